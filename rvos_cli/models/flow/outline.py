"""Where an object's outline went: its shape aligned to its colour evidence, and dense flow along its edge.

An object with no texture of its own (a flat ball, a car body, a tinted window over a pattern that
stays put) has no inner points that move with it: its corners lie on its outline, and the inner ones
follow sensor noise or the pattern behind it. What does move is the outline, the boundary between
pixels of the object's colour and pixels of its surroundings'. Its shape is slid over the colour
evidence (appearance.py) and scored at every shift by the fit: the mean evidence inside the shape
minus the mean evidence on a ring just outside it. The fit peaks where the shape covers the object's
colour and its ring the surroundings', whatever the inside shows; the same score decides between
this motion and the inner one when they disagree (`choose`).
"""

from __future__ import annotations

import cv2
import numpy as np

from rvos_cli.models.flow.appearance import disc
from rvos_cli.models.flow.motion import IDENTITY

# The fit runs from -6 to 6 (evidence is bounded at 3). At or above FIT_TRUST the outline gives a motion
# where the inside gives none; at or above FIT_STRONG (and with few lookalike colours around, appearance.py)
# the colour clearly sets the object apart and the outline may overrule the inner motion, when the inner
# motion's own fit is more than SLACK (a share) below the best and it is more than AGREE px away from it.
FIT_TRUST, FIT_STRONG, SLACK, AGREE = 1.5, 4.0, 0.1, 1.5


class FitMap:
    """fit [h, w] float32 at each integer shift of a shape over a window of evidence; `origin` (x, y) is
    the translation (full-frame px) of the shift at fit[0, 0]."""

    def __init__(self, fit: np.ndarray, origin: np.ndarray):
        self.fit, self.origin = fit, origin

    def best(self) -> tuple[np.ndarray, float]:
        """([2, 3] float32 translation with a sub-pixel peak, its fit)."""
        _, peak, _, (bx, by) = cv2.minMaxLoc(self.fit)
        offset = np.float32([bx, by])
        for axis, (pos, size) in enumerate(((bx, self.fit.shape[1]), (by, self.fit.shape[0]))):
            if 0 < pos < size - 1:
                before, after = (
                    (self.fit[by, pos - 1], self.fit[by, pos + 1])
                    if axis == 0
                    else (self.fit[pos - 1, bx], self.fit[pos + 1, bx])
                )
                curvature = before - 2 * peak + after
                if curvature < 0:
                    offset[axis] += 0.5 * (before - after) / curvature
        motion = IDENTITY.copy()
        motion[:, 2] = self.origin + offset
        return motion, float(peak)

    def at(self, shift: np.ndarray) -> float:
        """The fit at a translation (x, y) px, bilinear between shifts; -inf outside the window."""
        x, y = np.float32(shift) - self.origin
        height, width = self.fit.shape
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            return -np.inf
        return float(cv2.getRectSubPix(self.fit, (1, 1), (float(x), float(y)))[0, 0])


def fit_map(
    evidence: np.ndarray, window: tuple[slice, slice], shape: np.ndarray, box: tuple[slice, slice], ring_width: int
) -> FitMap | None:
    """evidence [h, w] float32 over the frame region `window`; shape [H, W] bool (full frame) of which
    `box` is the bounding box. -> the fit of the shape at every shift that keeps it and its ring inside
    the window, or None when the window is too small."""
    template = np.pad(shape[box], ring_width).astype(np.uint8)
    ring = cv2.dilate(template, disc(ring_width)) - template
    if template.shape[0] > evidence.shape[0] or template.shape[1] > evidence.shape[1]:
        return None
    inside = cv2.matchTemplate(evidence, template.astype(np.float32), cv2.TM_CCORR) / max(1, template.sum())
    around = cv2.matchTemplate(evidence, ring.astype(np.float32), cv2.TM_CCORR) / max(1, ring.sum())
    origin = np.float32([window[1].start - box[1].start + ring_width, window[0].start - box[0].start + ring_width])
    return FitMap((inside - around).astype(np.float32), origin)


def edge_flow(backward_flow: np.ndarray, shape: np.ndarray, width: int) -> np.ndarray | None:
    """backward flow [H, W, 2] (current -> previous), shape [H, W] bool where the object is expected in the
    current frame -> [2, 3] float32 translation by minus the median flow over a band of `width` px inside
    its outline (where the edge, not the flat inside, gives the flow), or None when the band is empty."""
    inner = cv2.erode(shape.astype(np.uint8), disc(width)).astype(bool)
    band = shape & ~inner
    if not band.any():
        return None
    motion = IDENTITY.copy()
    motion[:, 2] = -np.median(backward_flow[band], axis=0)
    return motion


def shift_of(motion: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """[2, 3] motion -> [2] float32 displacement of the point `centre` (x, y)."""
    return motion[:, :2] @ centre + motion[:, 2] - centre


def choose(inner: np.ndarray, fits: FitMap, centre: np.ndarray) -> np.ndarray | None:
    """The consistency test between the motion of the object's inside (`inner` [2, 3]: tracked corners or
    matched pixels) and its outline's (the best of `fits`, which must be strong): None when the inner motion
    explains the colour evidence nearly as well (keep it: it is more precise and carries scale and rotation),
    else the outline's translation [2, 3] (the inside follows something else: a pattern behind a window,
    sensor noise on a flat surface)."""
    best, fit = fits.best()
    inner_shift = shift_of(inner, centre)
    if np.hypot(*(inner_shift - best[:, 2])) <= AGREE or fits.at(inner_shift) >= (1 - SLACK) * fit:
        return None
    return best
