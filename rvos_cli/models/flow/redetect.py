"""Best-effort re-detection of objects that vanished: template matching of their last good view."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# An object's view is remembered while it keeps at least this share of its reference area, and
# put back only where the remembered view matches at least this well (normalised correlation).
KEEP_AREA = 0.7
MATCH_SCORE = 0.8


@dataclass
class ObjectView:
    """One object's last good appearance: patch [h, w, 3] uint8 RGB, its mask [h, w] bool, and reference area."""

    patch: np.ndarray
    mask: np.ndarray
    area: int


class ObjectMemory:
    """Keeps each object's last good view; `redetect` pastes back objects missing from a label map."""

    def __init__(self):
        self.views: dict[int, ObjectView] = {}

    @property
    def known(self) -> set[int]:
        return set(self.views)

    def update(self, frame: np.ndarray, labels: np.ndarray) -> None:
        """Remember the view of every object that is (nearly) whole and not cut by the frame border."""
        for object_id in np.unique(labels):
            if object_id == 0:
                continue
            mask = labels == object_id
            area = int(mask.sum())
            view = self.views.get(object_id)
            if view is not None and area < KEEP_AREA * view.area:
                continue
            ys, xs = np.nonzero(mask)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            if view is not None and (y0 == 0 or x0 == 0 or y1 == labels.shape[0] or x1 == labels.shape[1]):
                continue
            self.views[object_id] = ObjectView(
                frame[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), max(area, view.area if view else 0)
            )

    def redetect(self, frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """labels [H, W] uint8 -> the same with vanished objects pasted (on background only) where they match."""
        present = set(np.unique(labels).tolist())
        for object_id, view in self.views.items():
            if object_id in present:
                continue
            height, width = view.mask.shape
            if height > frame.shape[0] or width > frame.shape[1] or min(height, width) < 4:
                continue
            scores = cv2.matchTemplate(frame, view.patch, cv2.TM_CCOEFF_NORMED, mask=None)
            _, score, _, (x, y) = cv2.minMaxLoc(scores)
            if score >= MATCH_SCORE:
                region = labels[y : y + height, x : x + width]
                region[view.mask & (region == 0)] = object_id
        return labels
