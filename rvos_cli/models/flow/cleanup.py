"""Light morphological clean-up of a propagated label map."""

from __future__ import annotations

import cv2
import numpy as np

from rvos_cli.models.flow.masks import object_ids


def clean_labels(labels: np.ndarray, radius: int = 1) -> np.ndarray:
    """[H, W] uint8 ids -> the same with specks removed (opening) and pinholes filled (closing),
    each object on its own; closing only claims background pixels, never another object's."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    out = np.zeros_like(labels)
    for object_id in object_ids(labels):
        mask = (labels == object_id).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel).astype(bool)
        out[closed & ((labels == 0) | (labels == object_id)) & (out == 0)] = object_id
    return out


def keep_attached(labels: np.ndarray, support: dict[int, np.ndarray], reach: int) -> np.ndarray:
    """labels [H, W] uint8 -> the same without the parts of each object (8-connected) farther than `reach` px
    from its `support` [H, W] bool (where its own motion put it): colour alone may extend an object, never
    start a piece of it elsewhere. In place; returns `labels`."""
    for object_id, where in support.items():
        mask = labels == object_id
        count, parts = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        if count <= 2:
            continue
        near = cv2.dilate(where.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
        attached = np.zeros(count, bool)
        attached[np.unique(parts[near.astype(bool) & mask])] = True
        attached[0] = False
        labels[mask & ~attached[parts]] = 0
    return labels
