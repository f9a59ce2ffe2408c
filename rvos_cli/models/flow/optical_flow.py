"""Dense optical flow between two grayscale frames (OpenCV's DIS)."""

from __future__ import annotations

import cv2
import numpy as np

# DIS refuses images with a side under 12 pixels and crashes the process (SIGSEGV) on some
# under 16 (e.g. 12x40), so smaller images are padded by edge replication up to this size.
MIN_SIDE = 16


class DenseFlow:
    """`flow(source, target)` -> [H, W, 2] float32 displacement (dx, dy) that takes each pixel of
    `source` to its position in `target`; both inputs are [H, W] uint8 grayscale, of any size."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST):
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        height, width = source.shape
        pad_y, pad_x = max(0, MIN_SIDE - height), max(0, MIN_SIDE - width)
        if pad_y or pad_x:
            source, target = (
                cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE) for image in (source, target)
            )
        return self.dis.calc(source, target, None)[:height, :width]
