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
