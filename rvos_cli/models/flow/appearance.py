"""Colour models that settle the pixels near object boundaries, where optical flow is least reliable.

Flow is smooth across an object's edge, so warped labels leak onto newly revealed background
and stick there. Near each boundary, a pixel keeps the object's label only if its colour is more
likely under the object's colour histogram than under that of the background ring around it.
"""

from __future__ import annotations

import cv2
import numpy as np

BINS = 16  # per channel; 16^3 colour bins
SHIFT = 8 - int(np.log2(BINS))


def _colour_index(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB -> [H, W] int bin index."""
    q = (frame >> SHIFT).astype(np.int32)
    return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


def _histogram(index: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = np.bincount(index[mask], minlength=BINS**3).astype(np.float32) + 0.5  # smoothing prior
    return counts / counts.sum()


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


class ColourModels:
    """Per object: P(object | colour) from its first-frame pixels against a ring of background around it.

    fit(frame [H, W, 3] uint8 RGB, labels [H, W] uint8) adds models for ids not seen yet;
    refine(frame, labels, band) -> labels with pixels within `band` pixels of each boundary re-decided.
    """

    def __init__(self):
        self.foreground: dict[int, np.ndarray] = {}

    def fit(self, frame: np.ndarray, labels: np.ndarray, ring: int) -> None:
        index = _colour_index(frame)
        for object_id in np.unique(labels):
            if object_id == 0 or object_id in self.foreground:
                continue
            mask = labels == object_id
            around = cv2.dilate(mask.astype(np.uint8), _disc(ring)).astype(bool) & (labels != object_id)
            if not around.any():
                around = labels != object_id
            fg, bg = _histogram(index, mask), _histogram(index, around)
            self.foreground[int(object_id)] = fg / (fg + bg)

    def refine(self, frame: np.ndarray, labels: np.ndarray, band: int) -> np.ndarray:
        index = _colour_index(frame)
        out = labels.copy()
        for object_id, posterior in self.foreground.items():
            mask = (labels == object_id).astype(np.uint8)
            if not mask.any():
                continue
            grown = cv2.dilate(mask, _disc(band)).astype(bool)
            core = cv2.erode(mask, _disc(band)).astype(bool)
            uncertain = grown & ~core & ((labels == 0) | (labels == object_id))
            likely = posterior[index] > 0.5
            out[uncertain & (labels == object_id) & ~likely] = 0
            out[uncertain & (out == 0) & likely] = object_id
        return out
