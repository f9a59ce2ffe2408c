"""Per-frame measures of the DAVIS benchmark: region similarity J and boundary accuracy F,
and the Mean / Recall / Decay statistics over a sequence.

They reproduce davisvideochallenge/davis2017-evaluation (`db_eval_iou`, `f_measure`,
`_seg2bmap`, `db_statistics`) value for value, without scikit-image: the dilation uses the
same disk and the same `cv2.dilate` call as the reference.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

BOUNDARY_THRESHOLD = 0.008  # the reference's bound_th: the match radius as a fraction of the diagonal


def jaccard(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Region similarity J = |gt ∩ pred| / |gt ∪ pred| over the last two axes.

    gt, pred: boolean [..., H, W]. Returns float [...]; an empty union counts as 1.
    """
    intersection = np.count_nonzero(gt & pred, axis=(-2, -1))
    union = np.count_nonzero(gt | pred, axis=(-2, -1))
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The 1-pixel boundary of a boolean [H, W] mask, as the reference's `_seg2bmap`.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour;
    beyond the image edge there is no neighbour, so the edge itself is never a boundary.
    """
    right = mask[:, :-1] != mask[:, 1:]
    down = mask[:-1, :] != mask[1:, :]
    boundary = np.zeros_like(mask, dtype=bool)
    boundary[:, :-1] |= right
    boundary[:-1, :] |= down
    boundary[:-1, :-1] |= mask[:-1, :-1] != mask[1:, 1:]
    return boundary


def disk(radius: int) -> np.ndarray:
    """uint8 [2r+1, 2r+1] structuring element with x^2 + y^2 <= r^2, as skimage.morphology.disk.

    OpenCV's MORPH_ELLIPSE is a different shape from radius 2 up, which would change F.
    """
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)


def boundary_radius(height: int, width: int, bound_th: float = BOUNDARY_THRESHOLD) -> int:
    """Match tolerance in pixels: bound_th itself when >= 1, else ceil(bound_th * diagonal)."""
    return int(bound_th) if bound_th >= 1 else math.ceil(bound_th * math.hypot(height, width))


def f_measure(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    """Boundary F-measure of boolean [H, W] masks: boundaries match within a disk of `radius`.

    Both boundaries empty gives 1; exactly one empty gives 0.
    """
    gt_boundary, pred_boundary = boundary_map(gt), boundary_map(pred)
    n_gt, n_pred = np.count_nonzero(gt_boundary), np.count_nonzero(pred_boundary)
    if n_gt == 0 or n_pred == 0:
        return 1.0 if n_gt == n_pred else 0.0
    kernel = disk(radius)
    gt_dilated = cv2.dilate(gt_boundary.view(np.uint8), kernel).view(bool)
    pred_dilated = cv2.dilate(pred_boundary.view(np.uint8), kernel).view(bool)
    precision = np.count_nonzero(pred_boundary & gt_dilated) / n_pred
    recall = np.count_nonzero(gt_boundary & pred_dilated) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def decay_bins(n: int) -> list[slice]:
    """The reference's four overlapping bins over n per-frame values."""
    # int64 where the reference casts to uint8, which wraps for sequences over 256 frames
    edges = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)
    return [slice(edges[i], edges[i + 1] + 1) for i in range(4)]


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of one object's per-frame J or F values [T].

    Recall: fraction of frames strictly above 0.5. Decay: mean of the first bin minus mean of
    the last (positive when quality drops over time).
    """
    values = np.asarray(values, dtype=np.float64)
    bins = decay_bins(len(values))
    mean = float(values.mean())
    recall = float((values > 0.5).mean())
    decay = float(values[bins[0]].mean() - values[bins[3]].mean())
    return mean, recall, decay
