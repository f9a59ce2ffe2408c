"""Colour models that say, near an object, whether a pixel looks like the object or like what surrounds it.

Each object keeps an RGB histogram of itself (its first view, slowly adapted) and one of a ring of
background around it in recent frames. The ring model is local and refreshed every frame, so a
background of nearly the object's colour elsewhere in the frame does not matter, and an occluder
approaching the object enters the background model before it covers it. How much of the ring looks
like the object (`lookalike`) says whether colour alone may be trusted near it.
"""

from __future__ import annotations

import cv2
import numpy as np

from rvos_cli.models.flow.masks import bounds, object_ids

BINS = 16  # per channel; 16^3 colour bins
SHIFT = 8 - int(np.log2(BINS))
# Share of each frame's pixels in the running models: the object's own adapts slowly (it must not
# drift onto the background), the background's fast (it changes as the object moves).
OBJECT_RATE, BACKGROUND_RATE = 0.05, 0.3
# The log-likelihood ratio is bounded: a single colour is never proof.
MAX_EVIDENCE = 3.0
# Counts added to every bin: a colour never seen is not impossible.
PRIOR_COUNT = 0.2
# A colour is typical of an object where its histogram is this many times the prior's level.
TYPICAL = 10.0
# Colour may overrule the inner motion while at most this share of the ring looks like the object (outline.py).
LOOKALIKE = 0.05
# Fine detail (texture(), grey levels) from which an object has texture of its own to be tracked by.
TEXTURED = 2.5


def colour_index(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB -> [H, W] int32 bin index."""
    q = (frame >> SHIFT).astype(np.int32)
    return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


def histogram(index: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """[BINS**3] float32 colour distribution of `index` (where `mask`), with PRIOR_COUNT in every bin."""
    values = index if mask is None else index[mask]
    counts = np.bincount(values.ravel(), minlength=BINS**3).astype(np.float32) + PRIOR_COUNT
    return counts / counts.sum()


def spread(distribution: np.ndarray) -> np.ndarray:
    """[BINS**3] distribution -> the same spread to neighbouring bins along each channel with weights
    [1/4, 1/2, 1/4]: a shaded or noisy surface also takes the colours next to those it showed."""
    cube = distribution.reshape(BINS, BINS, BINS)
    for axis in range(3):
        padded = np.pad(cube, [(1, 1) if a == axis else (0, 0) for a in range(3)], mode="edge")
        cube = 0.5 * cube + 0.25 * (padded.take(range(BINS), axis=axis) + padded.take(range(2, BINS + 2), axis=axis))
    return cube.reshape(-1)


def log_ratio(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """[BINS**3] bounded log P(c | own) / P(c | other), float32."""
    return np.clip(np.log(own) - np.log(other), -MAX_EVIDENCE, MAX_EVIDENCE).astype(np.float32)


def disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def ring(mask: np.ndarray, width: int) -> np.ndarray:
    """[H, W] bool: pixels within `width` of `mask` and outside it. Other objects count as background
    here: one passing in front must look like "not this object"."""
    around = cv2.dilate(mask.astype(np.uint8), disc(width)).astype(bool) & ~mask
    return around if around.any() else ~mask


def texture(gray: np.ndarray, mask: np.ndarray) -> float | None:
    """gray [H, W] uint8, mask [H, W] bool -> the median fine detail (|gray - its blur at 1.5 px|, grey
    levels) well inside the mask, or None when nothing is well inside. A flat or shaded surface with
    camera noise gives about 1-2, a textured one 4 and more."""
    box = bounds(mask, 4)
    if box is None:
        return None
    inner = cv2.erode(mask[box].astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    if not inner.any():
        return None
    patch = gray[box].astype(np.float32)
    detail = np.abs(patch - cv2.GaussianBlur(patch, (0, 0), 1.5))
    return float(np.median(detail[inner]))


class ColourModels:
    """Per object id: object and local-background histograms; `evidence` -> log P(c | object) / P(c | background).

    update(index [H, W] int32 from colour_index, labels [H, W] uint8, width) fits new ids and adapts known
    ones; lookalike[id]: the share of the last ring whose colours the object's model prefers.
    """

    def __init__(self):
        self.object: dict[int, np.ndarray] = {}
        self.background: dict[int, np.ndarray] = {}
        self.lookalike: dict[int, float] = {}

    def update(
        self,
        index: np.ndarray,
        labels: np.ndarray,
        width: int,
        restart: bool = False,
        shapes: dict[int, np.ndarray] | None = None,
    ) -> None:
        """`restart`: the background models start again from this frame (a new shot). `shapes`: where each
        object is thought to be in full ([H, W] bool); pixels there of the object's typical colours are left
        out of its background ring, so that a part its mask lost is not learnt as its surroundings (which
        would keep it lost), while an occluder over it is."""
        for object_id in object_ids(labels):
            mask = labels == object_id
            box = bounds(mask, width + 1)
            crop, pixels = mask[box], index[box]
            inner = cv2.erode(crop.astype(np.uint8), disc(1)).astype(bool)
            inner = inner if inner.any() else crop
            surround = ring(crop, width)
            if shapes is not None and object_id in self.object and object_id in shapes:
                surround &= ~(shapes[object_id][box] & self.typical(pixels, object_id))
            around = histogram(pixels, surround)
            if object_id not in self.object:
                self.object[object_id], self.background[object_id] = histogram(pixels, inner), around
            else:
                self.object[object_id] = (1 - OBJECT_RATE) * self.object[object_id] + OBJECT_RATE * histogram(
                    pixels, inner
                )
                rate = 1.0 if restart else BACKGROUND_RATE
                self.background[object_id] = (1 - rate) * self.background[object_id] + rate * around
            ratio = log_ratio(self.object[object_id], self.background[object_id])[pixels[surround]]
            self.lookalike[object_id] = float(np.mean(ratio > 0)) if ratio.size else 1.0

    def typical(self, index: np.ndarray, object_id: int) -> np.ndarray:
        """index [h, w] -> [h, w] bool: pixels of colours the object has shown (well above the prior)."""
        own = self.object[object_id]
        return own[index] > TYPICAL * own.min()

    def evidence(self, index: np.ndarray, object_id: int, smooth: bool = False) -> np.ndarray:
        """index [h, w] int32 -> [h, w] float32 bounded log-likelihood ratio, object against its surroundings.
        `smooth`: the object's histogram spread to neighbouring bins first, for an object whose colour its
        surroundings do not have, so the extremes of its shading count as its own."""
        own = np.maximum(self.object[object_id], spread(self.object[object_id])) if smooth else self.object[object_id]
        return log_ratio(own, self.background[object_id])[index]
