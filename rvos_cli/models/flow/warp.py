"""Moving a label map along optical flow, and finding where the flow cannot be trusted."""

from __future__ import annotations

import cv2
import numpy as np


def _sample(image: np.ndarray, flow: np.ndarray, interpolation: int) -> np.ndarray:
    """image sampled at (x + flow_x, y + flow_y) for every pixel (x, y) of the flow field."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(
        image, xs + flow[..., 0], ys + flow[..., 1], interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def warp_labels(labels: np.ndarray, backward_flow: np.ndarray) -> np.ndarray:
    """labels [H, W] uint8 of the previous frame, backward flow [H, W, 2] (current -> previous)
    -> [H, W] uint8 labels of the current frame; pixels that come from outside the frame are 0."""
    return _sample(labels, backward_flow, cv2.INTER_NEAREST)


def consistent(backward_flow: np.ndarray, forward_flow: np.ndarray) -> np.ndarray:
    """[H, W] bool: True where going back along `backward_flow` and forward again returns home.

    The tolerance grows with the motion (Sundaram et al., ECCV 2010): |b + f|^2 <= 0.01 (|b|^2 + |f|^2) + 0.5,
    where f is the forward flow sampled at the pixel's position in the previous frame.
    Pixels that fail are occluded or newly revealed.
    """
    forward_there = _sample(forward_flow, backward_flow, cv2.INTER_LINEAR)
    round_trip = np.sum((backward_flow + forward_there) ** 2, axis=-1)
    magnitude = np.sum(backward_flow**2, axis=-1) + np.sum(forward_there**2, axis=-1)
    return round_trip <= 0.01 * magnitude + 0.5
