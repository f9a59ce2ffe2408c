"""Scene cuts: the frame-to-frame change a cut makes is unmistakable.

Two frames are compared as colour thumbnails 64 pixels wide: the mean absolute difference, in units of
the frames' own contrast (their standard deviation). Within a shot it stays under about 0.1 for a still
or slowly moving camera and reaches about 0.55 in a whip pan; across a cut it is above 1.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL_WIDTH = 64
CUT = 0.8


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 -> [h, 64, 3] float32, area-averaged."""
    height, width = frame.shape[:2]
    size = (min(THUMBNAIL_WIDTH, width), max(1, round(min(THUMBNAIL_WIDTH, width) * height / width)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def change(previous: np.ndarray, current: np.ndarray) -> float:
    """Two thumbnails -> their mean absolute difference over their mean standard deviation."""
    return float(np.abs(current - previous).mean() / (0.5 * (previous.std() + current.std()) + 1.0))


class CutDetector:
    """`__call__(frame [H, W, 3] uint8)` -> whether a new shot starts at this frame (False on the first)."""

    def __init__(self):
        self._previous: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        current = thumbnail(frame)
        cut = self._previous is not None and change(self._previous, current) > CUT
        self._previous = current
        return cut
