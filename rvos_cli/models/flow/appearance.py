"""Colour models that say, near an object, whether a pixel looks like the object or like what surrounds it.

Each object keeps an RGB histogram of itself (its first view, slowly adapted) and one of a ring of
background around it in recent frames. The ring model is local and refreshed every frame, so a
background of nearly the object's colour elsewhere in the frame does not matter, and an occluder
approaching the object enters the background model before it covers it.
"""

from __future__ import annotations

import cv2
import numpy as np

BINS = 16  # per channel; 16^3 colour bins
SHIFT = 8 - int(np.log2(BINS))
# Share of each frame's pixels in the running models: the object's own adapts slowly (it must not
# drift onto the background), the background's fast (it changes as the object moves).
OBJECT_RATE, BACKGROUND_RATE = 0.05, 0.3
# The log-likelihood ratio is bounded: a single colour is never proof.
MAX_EVIDENCE = 3.0


def colour_index(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB -> [H, W] int32 bin index."""
    q = (frame >> SHIFT).astype(np.int32)
    return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


def _histogram(index: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = np.bincount(index[mask], minlength=BINS**3).astype(np.float32) + 0.2  # smoothing prior
    return counts / counts.sum()


def disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def ring(mask: np.ndarray, width: int) -> np.ndarray:
    """[H, W] bool: pixels within `width` of `mask` and outside it. Other objects count as background
    here: one passing in front must look like "not this object"."""
    around = cv2.dilate(mask.astype(np.uint8), disc(width)).astype(bool) & ~mask
    return around if around.any() else ~mask


class ColourModels:
    """Per object id: object and local-background histograms; `evidence` -> log P(c | object) / P(c | background).

    update(index [H, W] int32 from colour_index, labels [H, W] uint8, width) fits new ids and adapts known ones.
    """

    def __init__(self):
        self.object: dict[int, np.ndarray] = {}
        self.background: dict[int, np.ndarray] = {}

    def update(self, index: np.ndarray, labels: np.ndarray, width: int) -> None:
        for object_id in np.unique(labels):
            if object_id == 0:
                continue
            mask = labels == object_id
            inner = cv2.erode(mask.astype(np.uint8), disc(1)).astype(bool)
            inner = inner if inner.any() else mask
            around = _histogram(index, ring(mask, width))
            key = int(object_id)
            if key not in self.object:
                self.object[key], self.background[key] = _histogram(index, inner), around
                continue
            self.object[key] = (1 - OBJECT_RATE) * self.object[key] + OBJECT_RATE * _histogram(index, inner)
            self.background[key] = (1 - BACKGROUND_RATE) * self.background[key] + BACKGROUND_RATE * around

    def evidence(self, index: np.ndarray, object_id: int) -> np.ndarray:
        """index [h, w] int32 -> [h, w] float32 bounded log-likelihood ratio, object against its surroundings."""
        ratio = np.log(self.object[object_id]) - np.log(self.background[object_id])
        return np.clip(ratio, -MAX_EVIDENCE, MAX_EVIDENCE)[index]
