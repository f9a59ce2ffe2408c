"""Light morphological clean-up of a propagated label map."""

from __future__ import annotations

import cv2
import numpy as np


def clean_labels(labels: np.ndarray, radius: int = 1) -> np.ndarray:
    """[H, W] uint8 ids -> the same with specks removed (opening) and pinholes filled (closing),
    each object on its own; closing only claims background pixels, never another object's."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    out = np.zeros_like(labels)
    for object_id in np.unique(labels):
        if object_id == 0:
            continue
        mask = (labels == object_id).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel).astype(bool)
        out[closed & ((labels == 0) | (labels == object_id)) & (out == 0)] = object_id
    return out
