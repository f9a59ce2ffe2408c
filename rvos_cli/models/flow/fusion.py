"""Deciding each pixel's label from two motion predictions and the objects' colour evidence.

Per object, the rigid prediction (its shape template moved by its own motion) and the dense
prediction (labels warped along dense flow) are softened over a band and averaged into a prior:
where both agree the prior is strong and colour can hardly overturn it (a similar-coloured
background is not absorbed); where they disagree (a lagging edge, a limb the rigid motion misses,
an occluder) the prior is even and the colour evidence decides. The log-odds are smoothed a little
so decisions follow regions, not single pixels; an area cap stops a mask from swelling.

When the object's colour sets it clearly apart and it has little texture of its own (a ball, a car
body, an animal's fur), colour leads: its evidence counts twice, enough to overturn the motion prior,
so the mask follows the object's outline as it grows or turns. It leads only where the image changed
beyond the camera's motion or where the object's own pixels moved to: a still patch of background
of the object's colour beside it is never taken by colour alone.
"""

from __future__ import annotations

import cv2
import numpy as np

# Strongest prior belief, as log-odds: both predictions agreeing outweigh most colour evidence.
CERTAIN = 0.97
# A mask may grow at most this much beyond its rigid prediction in one frame.
MAX_GROWTH = 1.0
# Trust in the rigid prediction against the dense one: dense flow drags edges along with the background.
RIGID_WEIGHT = 0.7
# How many times the colour evidence counts where colour leads.
LEAD_WEIGHT = 2.0


def prior_log_odds(rigid: np.ndarray, dense: np.ndarray, softness: float) -> np.ndarray:
    """rigid, dense [h, w] bool predictions -> [h, w] float32 log-odds of the object, softened over
    about `softness` pixels across each predicted edge."""
    mean = RIGID_WEIGHT * rigid.astype(np.float32) + (1 - RIGID_WEIGHT) * dense.astype(np.float32)
    soft = cv2.GaussianBlur(mean, (0, 0), softness)
    soft = np.clip(soft, 1 - CERTAIN, CERTAIN)
    return np.log(soft / (1 - soft))


def object_score(prior: np.ndarray, evidence: np.ndarray, smoothing: int, lead: np.ndarray | None = None) -> np.ndarray:
    """[h, w] float32 log-odds of the object: prior plus colour evidence, box-smoothed over `smoothing` px,
    counted LEAD_WEIGHT times where `lead` [h, w] bool."""
    evidence = cv2.blur(evidence, (smoothing, smoothing)) if smoothing > 1 else evidence
    if lead is not None:
        evidence = np.where(lead, LEAD_WEIGHT * evidence, evidence)
    return prior + evidence


def cap_area(score: np.ndarray, limit: float) -> np.ndarray:
    """score [h, w] -> the same, shifted down so that at most `limit` pixels stay positive."""
    positive = score > 0
    count = int(positive.sum())
    if count <= limit or limit < 1:
        return score
    threshold = np.partition(score[positive], count - int(limit))[count - int(limit)]
    return score - threshold


def assign(
    labels: np.ndarray, best: np.ndarray, region: tuple[slice, slice], score: np.ndarray, object_id: int
) -> None:
    """Give `object_id` the pixels of `region` where its score is positive and beats every object so far
    (`best` [H, W] float32 holds the winning scores, background at 0); in place."""
    wins = score > best[region]
    labels[region][wins] = object_id
    best[region][wins] = score[wins]
