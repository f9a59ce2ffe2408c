"""Referring VOS evaluation: one binary mask per (video, query, frame).

Every frame is a sample: IoU = I / U with an empty union counting 1. mIoU averages the samples,
oIoU divides the summed intersections by the summed unions, precision@K is the fraction of
samples with IoU strictly above K. J&F is computed per query over all its frames (J the mean
IoU, F the DAVIS boundary measure) and averaged over queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rvos_cli.eval.layout import Track, read_pair
from rvos_cli.eval.metrics import boundary_radius, f_measure

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class QueryScores:
    """Mean J and F of one query over its frames."""

    video: str
    query: str
    j: float
    f: float

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


@dataclass
class ReferringResult:
    """Per-sample IoU, intersection and union [N], and per-query J and F."""

    iou: list[float] = field(default_factory=list)
    intersection: list[int] = field(default_factory=list)
    union: list[int] = field(default_factory=list)
    queries: list[QueryScores] = field(default_factory=list)

    def to_json(self) -> dict:
        iou = np.asarray(self.iou)
        total_union = sum(self.union)
        return {
            "mIoU": float(iou.mean()),
            "oIoU": sum(self.intersection) / total_union if total_union else 1.0,
            "precision": {f"{k:.1f}": float((iou > k).mean()) for k in PRECISION_THRESHOLDS},
            "J&F": float(np.mean([q.jf for q in self.queries])),
        }


def evaluate_referring(tracks: list[Track], advance: Callable[[int], None] = lambda n=1: None) -> ReferringResult:
    """Evaluate every (video, query) track; `advance(n)` is called once per frame.

    Masks are binary: any non-zero pixel is foreground.
    """
    result = ReferringResult()
    for track in tracks:
        f_values, start = [], len(result.iou)
        for gt_frame in track.gt_frames:
            gt, pred = (m > 0 for m in read_pair(gt_frame, track.pred_frame(gt_frame)))
            intersection, union = int(np.count_nonzero(gt & pred)), int(np.count_nonzero(gt | pred))
            result.intersection.append(intersection)
            result.union.append(union)
            result.iou.append(intersection / union if union else 1.0)
            f_values.append(f_measure(gt, pred, boundary_radius(*gt.shape)))
            advance(1)
        result.queries.append(
            QueryScores(track.video, track.query, float(np.mean(result.iou[start:])), float(np.mean(f_values)))
        )
    return result
