"""Semi-supervised VOS evaluation with the DAVIS 2017 protocol.

Conventions of davisvideochallenge/davis2017-evaluation, which published numbers follow:
the objects are 1..max id of the first ground-truth frame; only frames 2..T-1 are scored;
void pixels (255) in the ground truth are background; the global scores average every object
of every video with equal weight, and J&F-Mean = (J-Mean + F-Mean) / 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.eval.layout import Track, read_pair
from rvos_cli.eval.metrics import boundary_radius, f_measure, jaccard, statistics
from rvos_cli.video.palette import read_label_png

VOID = 255
OBJECT_KEYS = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
GLOBAL_KEYS = ("J&F-Mean",) + OBJECT_KEYS


def frame_scores(gt: np.ndarray, pred: np.ndarray, num_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """J and F of objects 1..K in one frame.

    gt, pred: integer id maps [H, W] (void already made background). Returns (J [K], F [K]).
    An object absent from `pred` is scored as an empty mask; ids above K are background.
    """
    ids = np.arange(1, num_objects + 1)[:, None, None]
    gt_masks, pred_masks = gt[None] == ids, pred[None] == ids  # [K, H, W]
    radius = boundary_radius(*gt.shape)
    f = [f_measure(g, p, radius) for g, p in zip(gt_masks, pred_masks)]
    return jaccard(gt_masks, pred_masks), np.array(f)


def scored_frames(track: Track) -> list[Path]:
    """The ground-truth frames DAVIS scores: all but the first (given) and the last."""
    return track.gt_frames[1:-1]


def _num_objects(track: Track) -> int:
    if len(track.gt_frames) < 3:
        raise InputError(
            f"video {track.video} has {len(track.gt_frames)} ground-truth frames; DAVIS scores "
            "frames 2..T-1, so each video needs at least 3"
        )
    first = read_label_png(track.gt_frames[0])
    num_objects = int(np.where(first == VOID, 0, first).max())
    if num_objects == 0:
        raise InputError(
            f"first ground-truth frame {track.gt_frames[0]} has no objects; "
            "DAVIS takes the objects from the first frame's ids 1..N"
        )
    return num_objects


def object_summary(j: np.ndarray, f: np.ndarray) -> dict[str, float]:
    """{"J-Mean", "J-Recall", "J-Decay", "F-Mean", ...} from one object's per-frame J [T] and F [T]."""
    return dict(zip(OBJECT_KEYS, statistics(j) + statistics(f)))


def average(summaries: list[dict[str, float]]) -> dict[str, float]:
    """Equal-weight mean of object summaries, led by J&F-Mean = (J-Mean + F-Mean) / 2."""
    means = {key: float(np.mean([s[key] for s in summaries])) for key in OBJECT_KEYS}
    return {"J&F-Mean": (means["J-Mean"] + means["F-Mean"]) / 2, **means}


@dataclass
class DavisResult:
    """Per-object summaries {video: {object id: {J-Mean, ...}}} and warnings about the input."""

    videos: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def overall(self) -> dict[str, float]:
        return average([s for objects in self.videos.values() for s in objects.values()])

    def per_video(self, video: str) -> dict[str, float]:
        return average(list(self.videos[video].values()))

    def to_json(self) -> dict:
        return {
            "global": self.overall(),
            "videos": {
                video: {str(obj): scores for obj, scores in objects.items()} for video, objects in self.videos.items()
            },
        }


def evaluate_video(track: Track, advance: Callable[[int], None]) -> tuple[dict[int, dict[str, float]], str | None]:
    """({object id: summary}, warning or None) of one video."""
    num_objects = _num_objects(track)
    frames = scored_frames(track)
    j, f = np.zeros((num_objects, len(frames))), np.zeros((num_objects, len(frames)))
    highest = 0
    for t, gt_frame in enumerate(frames):
        gt, pred = read_pair(gt_frame, track.pred_frame(gt_frame))
        gt[gt == VOID] = 0
        highest = max(highest, int(pred.max()))
        j[:, t], f[:, t] = frame_scores(gt, pred, num_objects)
        advance(1)
    warning = None
    if highest > num_objects:
        warning = (
            f"predictions for {track.video} use ids up to {highest} but its first ground-truth frame has "
            f"{num_objects} objects; the extra ids were scored as background"
        )
    return {obj + 1: object_summary(j[obj], f[obj]) for obj in range(num_objects)}, warning


def evaluate_davis(tracks: list[Track], advance: Callable[[int], None] = lambda n=1: None) -> DavisResult:
    """Evaluate every video; `advance(n)` is called once per scored frame."""
    result = DavisResult()
    for track in tracks:
        result.videos[track.video], warning = evaluate_video(track, advance)
        if warning:
            result.warnings.append(warning)
    return result
