"""Accuracy the way the field measures it: DAVIS 2017 J&F for propagation, mIoU / oIoU /
precision@K and J&F for referring segmentation, from folders of PNG masks."""

from rvos_cli.eval import report
from rvos_cli.eval.davis import DavisResult, evaluate_davis, scored_frames
from rvos_cli.eval.layout import Track, davis_tracks, referring_tracks
from rvos_cli.eval.referring import ReferringResult, evaluate_referring

__all__ = [
    "DavisResult",
    "ReferringResult",
    "Track",
    "davis_tracks",
    "evaluate_davis",
    "evaluate_referring",
    "report",
    "referring_tracks",
    "scored_frames",
]
