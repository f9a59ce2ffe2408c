"""Dense optical flow between two grayscale frames (OpenCV's DIS)."""

from __future__ import annotations

import cv2
import numpy as np


class DenseFlow:
    """`flow(source, target)` -> [H, W, 2] float32 displacement (dx, dy) that takes each pixel of
    `source` to its position in `target`; both inputs are [H, W] uint8 grayscale."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        return self.dis.calc(source, target, None)
