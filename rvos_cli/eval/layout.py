"""Finding ground-truth and prediction frames on disk and checking that they line up.

DAVIS layout: `<root>/<video>/<frame>.png`, or a single video's folder of PNGs.
Referring layout: `<root>/<video>/<query>/<frame>.png`, or a single video's query folders.
A prediction frame is the file with the ground-truth frame's name in the matching folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.video.images import check_size, read_header
from rvos_cli.video.palette import read_label_png


@dataclass
class Track:
    """The ground-truth frames of one video (DAVIS) or one query (referring), and where
    the matching predictions live."""

    video: str
    query: str | None
    gt_frames: list[Path]
    pred_dir: Path

    def pred_frame(self, gt_frame: Path) -> Path:
        """The prediction answering `gt_frame`; exit 2 when it is missing."""
        pred = self.pred_dir / gt_frame.name
        if not pred.is_file():
            raise InputError(
                f"prediction frame {pred} is missing (ground truth {gt_frame}); "
                "write one PNG per ground-truth frame, with the same name"
            )
        return pred


def read_pair(gt_frame: Path, pred_frame: Path) -> tuple[np.ndarray, np.ndarray]:
    """(gt ids, pred ids) of one frame, both int32 [H, W]; exit 2 when the sizes differ, which the
    PNG headers tell before either is decoded (a prediction can never be larger than its ground truth)."""
    gt_size, pred_size = read_header(gt_frame, "mask"), read_header(pred_frame, "mask")
    check_size(gt_size, gt_frame, "mask")
    if (gt_size.width, gt_size.height) != (pred_size.width, pred_size.height):
        raise InputError(
            f"prediction {pred_frame} is {pred_size.width}x{pred_size.height} but ground truth {gt_frame} "
            f"is {gt_size.width}x{gt_size.height}; predictions must have the ground truth's size"
        )
    gt = read_label_png(gt_frame)
    return gt, read_label_png(pred_frame, gt.shape[1], gt.shape[0])


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_roots(pred_root: Path, gt_root: Path) -> None:
    for root, role in ((gt_root, "ground-truth"), (pred_root, "prediction")):
        if not root.is_dir():
            raise InputError(f"{role} folder {root} does not exist; pass a folder of PNG masks")


def _stray_files(folders: list[Path], layout: str, warn: Callable[[str], None] | None) -> None:
    """Warn about PNG files lying beside the folders a layout reads: they are not scored."""
    for folder in folders:
        if not folder.is_dir():
            continue
        stray = [p.name for p in _pngs(folder)]
        if stray and warn is not None:
            shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
            warn(f"ignored {len(stray)} stray PNG file(s) in {folder} ({shown}); masks are read from {layout}")


def _video_tracks(video: str, gt_dir: Path, pred_dir: Path) -> list[Track]:
    return [
        Track(video, query.name, pngs, pred_dir / query.name) for query in _subfolders(gt_dir) if (pngs := _pngs(query))
    ]


def davis_tracks(pred_root: Path, gt_root: Path, warn: Callable[[str], None] | None = None) -> list[Track]:
    """One Track per video. Folders of PNGs make a root of videos (files beside them get a warning);
    a ground-truth folder holding only PNGs is a single video named after the folder."""
    _check_roots(pred_root, gt_root)
    videos = [(folder, pngs) for folder in _subfolders(gt_root) if (pngs := _pngs(folder))]
    if videos:
        _stray_files([gt_root, pred_root], "its <video>/<frame>.png folders", warn)
        return [Track(folder.name, None, pngs, pred_root / folder.name) for folder, pngs in videos]
    if pngs := _pngs(gt_root):
        return [Track(gt_root.resolve().name, None, pngs, pred_root)]
    raise InputError(
        f"no PNG masks in {gt_root}; expected <video>/<frame>.png or a folder of <frame>.png "
        "(for <video>/<query>/<frame>.png pass --referring)"
    )


def referring_tracks(pred_root: Path, gt_root: Path, warn: Callable[[str], None] | None = None) -> list[Track]:
    """One Track per (video, query). Folders of query folders make a root of videos (files beside
    them get a warning); a ground-truth folder of query folders of PNGs is a single video."""
    _check_roots(pred_root, gt_root)
    tracks = [
        track
        for folder in _subfolders(gt_root)
        for track in _video_tracks(folder.name, folder, pred_root / folder.name)
    ]
    if tracks:
        layout = "<video>/<query>/<frame>.png folders"
        videos = sorted({track.video for track in tracks})
        _stray_files([gt_root, pred_root, *(root / v for root in (gt_root, pred_root) for v in videos)], layout, warn)
        return tracks
    tracks = _video_tracks(gt_root.resolve().name, gt_root, pred_root)
    if not tracks:
        raise InputError(f"no PNG masks in {gt_root}; expected <video>/<query>/<frame>.png for --referring")
    _stray_files([gt_root, pred_root], "its <query>/<frame>.png folders", warn)
    return tracks
