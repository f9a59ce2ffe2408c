"""Moving a label map along optical flow, and finding where the flow cannot be trusted."""

from __future__ import annotations

import functools

import cv2
import numpy as np


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> np.ndarray:
    """[H, W, 2] float32 pixel coordinates (x, y), made once per frame size."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def _sample(image: np.ndarray, flow: np.ndarray, interpolation: int) -> np.ndarray:
    """image sampled at (x + flow_x, y + flow_y) for every pixel (x, y) of the flow field."""
    where = _grid(*flow.shape[:2]) + flow
    return cv2.remap(image, where, None, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_image(image: np.ndarray, backward_flow: np.ndarray) -> np.ndarray:
    """[H, W] uint8 previous frame, backward flow [H, W, 2] -> the previous frame moved onto the current one
    (bilinear; black where the flow points outside)."""
    return _sample(image, backward_flow, cv2.INTER_LINEAR)


def warp_labels(labels: np.ndarray, backward_flow: np.ndarray) -> np.ndarray:
    """labels [H, W] uint8 of the previous frame, backward flow [H, W, 2] (current -> previous)
    -> [H, W] uint8 labels of the current frame; pixels that come from outside the frame are 0."""
    return _sample(labels, backward_flow, cv2.INTER_NEAREST)


# Mean absolute difference (grey levels, 3x3) above which a pixel is taken to have changed: well above
# a camera's noise between two frames, well below what an object moving in or out of a pixel makes.
CHANGE = 10.0
# The camera's motion is fitted to the flow on a grid of this step (px), away from the objects.
GRID = 8


def camera_motion(backward_flow: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """backward flow [h, w, 2] (current -> previous), objects [h, w] bool (where objects were) -> [2, 3]
    float32 affine taking current to previous pixel positions that most of the background follows."""
    height, width = objects.shape
    ys, xs = np.mgrid[GRID // 2 : height : GRID, GRID // 2 : width : GRID]
    keep = ~objects[ys, xs]
    points = np.stack([xs[keep], ys[keep]], axis=-1).astype(np.float32)
    if len(points) < 12:
        return np.float32([[1, 0, 0], [0, 1, 0]])
    targets = points + backward_flow[ys[keep], xs[keep]]
    motion, _ = cv2.estimateAffine2D(points, targets, method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=200)
    return np.float32([[1, 0, 0], [0, 1, 0]]) if motion is None else motion.astype(np.float32)


def changed(current: np.ndarray, previous: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """current, previous [h, w] uint8 gray; motion [2, 3] current -> previous positions (camera_motion)
    -> [h, w] bool: pixels the camera's motion does not explain, where an object appeared, left or grew."""
    height, width = current.shape
    explained = cv2.warpAffine(
        previous,
        motion,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    difference = cv2.blur(cv2.absdiff(current, explained), (3, 3))
    return difference > CHANGE
