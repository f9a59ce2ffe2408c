"""Each object's dominant motion from sparse feature tracks, checked forward and backward.

Dense flow is smooth across an object's edge, so the edge of a fast object is dragged towards the
background's motion and the mask lags. Corners inside the object are tracked precisely by pyramidal
Lucas-Kanade even at 10 px/frame on fine texture (seeded with the previous motion), and one
similarity transform fitted to them with RANSAC moves the whole object, edge included.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_POINTS = 120
MIN_INLIERS = 10
# ... and at least this share of the reliable tracks must agree on one motion.
MIN_AGREEMENT = 0.5
# A track counts only if following it back lands within this many pixels of where it started.
ROUND_TRIP = 1.0
LK = {
    "winSize": (15, 15),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
}

# Largest change of scale believed between two frames.
MAX_SCALE_STEP = 1.15

# Template matching searches this many pixels around the guess, plus this share of the guessed shift;
# its best match must score under this share of the median over the search window.
SEARCH, SEARCH_SHARE, MATCH_CONTRAST = 4, 0.5, 0.3

IDENTITY = np.float32([[1, 0, 0], [0, 1, 0]])


def _corners(gray: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """[N, 1, 2] float32 corners of `gray` inside `mask`, at least half a tracking window from its edge:
    the edge makes strong corners, but a window there sees the background and follows its motion."""
    mask = mask.astype(np.uint8)
    for margin in (LK["winSize"][0] // 2 + 1, 3, 0):
        inner = cv2.erode(mask, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) if margin else mask
        if np.count_nonzero(inner) >= 25:
            return cv2.goodFeaturesToTrack(gray, MAX_POINTS, 0.01, 3, mask=inner, blockSize=5)
    return None


def estimate_motion(
    previous: np.ndarray, current: np.ndarray, mask: np.ndarray, guess: np.ndarray
) -> np.ndarray | None:
    """previous, current [h, w] uint8 gray; mask [h, w] bool of the object in `previous`; guess [2, 3]
    float32, the motion expected (the last one). -> [2, 3] float32 similarity taking the object's points
    from `previous` to `current`, or None when too few reliable tracks remain (occluded, textureless)."""
    points = _corners(previous, mask)
    if points is None or len(points) < MIN_INLIERS:
        return None
    seeded = cv2.transform(points, guess)
    ahead, found, _ = cv2.calcOpticalFlowPyrLK(
        previous, current, points, seeded.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **LK
    )
    back, found_back, _ = cv2.calcOpticalFlowPyrLK(
        current, previous, ahead, points.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **LK
    )
    round_trip = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
    good = (found.ravel() == 1) & (found_back.ravel() == 1) & (round_trip < ROUND_TRIP)
    if good.sum() < MIN_INLIERS:
        return None
    motion, inliers = cv2.estimateAffinePartial2D(
        points[good], ahead[good], method=cv2.RANSAC, ransacReprojThreshold=0.5, maxIters=200
    )
    if motion is None or inliers.sum() < max(MIN_INLIERS, MIN_AGREEMENT * good.sum()):
        return None
    if not MAX_SCALE_STEP**-1 <= np.hypot(*motion[0, :2]) <= MAX_SCALE_STEP:  # no object doubles in a frame
        return None
    return motion.astype(np.float32)


def match_translation(
    previous: np.ndarray, current: np.ndarray, mask: np.ndarray, guess: np.ndarray
) -> np.ndarray | None:
    """Where the object's pixels of `previous` reappear in `current`, searched around the `guess` [2, 3]:
    masked template matching (sum of squared differences) with a sub-pixel parabola fit. It needs no
    corners, so it follows the small or smooth objects LK cannot, edge against background included.
    -> [2, 3] float32 pure translation, or None when the match is not clearly better than its neighbourhood
    (textureless, or the object not there)."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 16:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    centre = np.float32([(x0 + x1) / 2, (y0 + y1) / 2])
    shift = guess[:, :2] @ centre + guess[:, 2] - centre
    radius = int(SEARCH + SEARCH_SHARE * np.hypot(*shift))
    height, width = current.shape
    wy0, wx0 = int(round(y0 + shift[1])) - radius, int(round(x0 + shift[0])) - radius
    wy1, wx1 = int(round(y1 + shift[1])) + radius, int(round(x1 + shift[0])) + radius
    wy0, wx0, wy1, wx1 = max(0, wy0), max(0, wx0), min(height, wy1), min(width, wx1)
    if wy1 - wy0 < y1 - y0 + 2 or wx1 - wx0 < x1 - x0 + 2:
        return None
    patch = previous[y0:y1, x0:x1].astype(np.float32)
    weights = mask[y0:y1, x0:x1].astype(np.float32)
    window = current[wy0:wy1, wx0:wx1].astype(np.float32)
    scores = cv2.matchTemplate(window, patch, cv2.TM_SQDIFF, mask=weights)
    _, _, (bx, by), _ = cv2.minMaxLoc(scores)
    best = scores[by, bx]
    if not best < MATCH_CONTRAST * np.median(scores):  # a flat score map: nothing to lock on to
        return None
    offset = np.float32([bx, by])
    for axis, (pos, size) in enumerate(((bx, scores.shape[1]), (by, scores.shape[0]))):
        if 0 < pos < size - 1:
            before, after = (
                (scores[by, pos - 1], scores[by, pos + 1]) if axis == 0 else (scores[pos - 1, bx], scores[pos + 1, bx])
            )
            curvature = before - 2 * best + after
            if curvature > 0:
                offset[axis] += 0.5 * (before - after) / curvature
    motion = IDENTITY.copy()
    motion[:, 2] = offset + np.float32([wx0 - x0, wy0 - y0])
    return motion


def rescale(motion: np.ndarray, factor: float) -> np.ndarray:
    """[2, 3] motion -> the same motion in coordinates multiplied by `factor` (translation scales, the rest not)."""
    out = motion.copy()
    out[:, 2] *= factor
    return out
