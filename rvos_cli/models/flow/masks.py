"""Small operations on label maps and masks shared by the tracker's parts."""

from __future__ import annotations

import cv2
import numpy as np


def object_ids(labels: np.ndarray) -> list[int]:
    """[H, W] uint8 label map -> the ids present in it, 0 (background) left out, ascending."""
    counts = cv2.calcHist([np.ascontiguousarray(labels)], [0], None, [256], [0, 256]).ravel()
    return [int(k) for k in np.flatnonzero(counts[1:]) + 1]


def bounds(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The bounding box of `mask` [H, W] grown by `margin`, clipped to the frame; None if empty."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(ys):
        return None
    height, width = mask.shape
    return (
        slice(max(0, ys[0] - margin), min(height, ys[-1] + 1 + margin)),
        slice(max(0, xs[0] - margin), min(width, xs[-1] + 1 + margin)),
    )


def centroid(mask: np.ndarray) -> np.ndarray:
    """[2] float32 (x, y) centroid of `mask` [H, W] bool; (0, 0) when empty."""
    box = bounds(mask, 0)
    if box is None:
        return np.zeros(2, np.float32)
    moments = cv2.moments(mask[box].astype(np.uint8), binaryImage=True)
    return np.float32([box[1].start + moments["m10"] / moments["m00"], box[0].start + moments["m01"] / moments["m00"]])


def touches_border(mask: np.ndarray) -> bool:
    """mask [H, W] bool -> whether any of its pixels is on the frame's edge."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
