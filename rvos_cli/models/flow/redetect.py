"""Lost and found: an object looked for again by its appearance, near where it was going, or anywhere
in the first frame of a new shot.

A re-detection must look like the object, not merely have its size. Its colours must be the object's
and those of a ring around it must not (the inside-minus-ring fit that outline tracking uses, so a blob
of the object's size on empty surface scores nothing), and an object with texture of its own must
show it (normalised correlation with its last good view).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rvos_cli.models.flow.appearance import ColourModels, disc, histogram, log_ratio, ring
from rvos_cli.models.flow.masks import bounds, object_ids
from rvos_cli.models.flow.outline import fit_map

# A view is remembered while the object keeps at least this share of its reference area.
KEEP_AREA = 0.7
# The fit (mean evidence inside minus on the ring, at most 6) a re-detection needs; a clearly
# coloured object tracked by its outline scores 4-6, a background patch about 0.
FOUND_FIT = 3.0
# Normalised correlation with the last good view that a textured object must reach.
FOUND_MATCH = 0.6
# After a cut: candidate regions are where the object's colour is this much likelier than the frame's
# (log ratio), of 0.4-2.5 times its area and at least this like its shape (IoU, centres aligned).
CANDIDATE_EVIDENCE, AREA_RANGE, SHAPE_MATCH = 1.0, (0.4, 2.5), 0.5


@dataclass
class ObjectView:
    """One object's last good appearance: gray patch [h, w] uint8, its mask [h, w] bool, reference area (px)."""

    patch: np.ndarray
    mask: np.ndarray
    area: int


def _shifted(mask: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """[H, W] bool moved by (dx, dy) px (rounded), what leaves the frame dropped."""
    motion = np.float32([[1, 0, round(float(shift[0]))], [0, 1, round(float(shift[1]))]])
    height, width = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), motion, (width, height), flags=cv2.INTER_NEAREST).astype(bool)


class ObjectMemory:
    """Each object's last good view, and the searches that find an object again by it."""

    def __init__(self):
        self.views: dict[int, ObjectView] = {}

    @property
    def known(self) -> set[int]:
        return set(self.views)

    def update(self, gray: np.ndarray, labels: np.ndarray) -> None:
        """Remember the view (gray [H, W] uint8) of every object that is (nearly) whole and not cut by the
        frame border."""
        for object_id in object_ids(labels):
            mask = labels == object_id
            area = int(mask.sum())
            view = self.views.get(object_id)
            if view is not None and area < KEEP_AREA * view.area:
                continue
            box = bounds(mask, 0)
            on_border = box[0].start == 0 or box[1].start == 0
            on_border |= box[0].stop == labels.shape[0] or box[1].stop == labels.shape[1]
            if view is not None and on_border:
                continue
            self.views[object_id] = ObjectView(gray[box].copy(), mask[box].copy(), area)

    def matches(self, object_id: int, gray: np.ndarray, mask: np.ndarray) -> bool:
        """Whether the remembered view correlates with `gray` [h, w] (the resolution views are kept at) near
        `mask` [H, W] bool (any resolution) within a few px."""
        view = self.views[object_id]
        if mask.shape != gray.shape:
            mask = cv2.resize(mask.astype(np.uint8), gray.shape[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
        box = bounds(mask, 4 + max(view.mask.shape) // 8)
        if box is None:
            return False
        window = gray[box]
        if window.shape[0] < view.patch.shape[0] or window.shape[1] < view.patch.shape[1]:
            return False
        scores = cv2.matchTemplate(window, view.patch, cv2.TM_CCOEFF_NORMED, mask=view.mask.astype(np.uint8))
        return bool(np.nanmax(np.nan_to_num(scores, nan=-1.0, posinf=-1.0)) >= FOUND_MATCH)

    def find_near(
        self,
        object_id: int,
        index: np.ndarray,
        gray: np.ndarray,
        colours: ColourModels,
        expected: np.ndarray,
        radius: int,
        textured: bool,
    ) -> np.ndarray | None:
        """The object's expected shape [H, W] bool placed where, within `radius` px, it fits the colour evidence
        best, if that fit is clear and (for a `textured` object) its view is there. -> [H, W] bool or None."""
        box = bounds(expected, 0)
        if box is None or object_id not in colours.object:
            return None
        ring_width = max(2, round(min(index.shape) / 120))
        window = bounds(expected, radius + ring_width)
        fits = fit_map(colours.evidence(index[window], object_id), window, expected, box, ring_width)
        if fits is None:
            return None
        motion, fit = fits.best()
        if fit < FOUND_FIT:
            return None
        placed = _shifted(expected, motion[:, 2])
        if not placed.any() or (textured and not self.matches(object_id, gray, placed)):
            return None
        return placed

    def find_anywhere(
        self, object_id: int, index: np.ndarray, gray: np.ndarray, colours: ColourModels, textured: bool
    ) -> np.ndarray | None:
        """In the first frame of a new shot: the region [H, W] bool of the object's colour, size and shape that
        stands out from its surroundings and (if `textured`) shows its view, or None."""
        view = self.views.get(object_id)
        if view is None or object_id not in colours.object:
            return None
        evidence = log_ratio(colours.object[object_id], histogram(index))[index]
        evidence = cv2.blur(evidence, (5, 5))
        count, parts, stats, _ = cv2.connectedComponentsWithStats((evidence > CANDIDATE_EVIDENCE).astype(np.uint8))
        ring_width = max(2, round(min(index.shape) / 120))
        best, best_fit = None, FOUND_FIT
        for part in range(1, count):
            if not AREA_RANGE[0] <= stats[part, cv2.CC_STAT_AREA] / view.area <= AREA_RANGE[1]:
                continue
            region = parts == part
            region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_CLOSE, disc(ring_width)).astype(bool)
            fit = float(evidence[region].mean() - evidence[ring(region, 2 * ring_width)].mean())
            if fit < best_fit or _shape_match(view.mask, region[bounds(region, 0)]) < SHAPE_MATCH:
                continue
            if textured and not self.matches(object_id, gray, region):
                continue
            best, best_fit = region, fit
        return best


def _shape_match(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two cropped masks [h, w] bool with their centres aligned (the larger frame holds both)."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])

    def centred(mask: np.ndarray) -> np.ndarray:
        out = np.zeros((height, width), bool)
        y, x = (height - mask.shape[0]) // 2, (width - mask.shape[1]) // 2
        out[y : y + mask.shape[0], x : x + mask.shape[1]] = mask
        return out

    a, b = centred(a), centred(b)
    return float((a & b).sum() / max(1, (a | b).sum()))
