"""The label masks `rvos propagate` starts from: one PNG for the first frame, or a folder of per-frame PNGs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.video import VideoInfo, read_label_png

ASPECT_TOLERANCE = 0.01


@dataclass
class Annotations:
    """first: [H, W] uint8 ids for frame 0; later: {frame index: [H, W] uint8} masks that add objects."""

    first: np.ndarray
    later: dict[int, np.ndarray]
    files: list[Path]


def fit_mask(labels: np.ndarray, info: VideoInfo, path: Path, reporter=None) -> np.ndarray:
    """A label map checked against the frames: ids fit in uint8, same size (or same aspect, resized)."""
    if labels.max() > 255:
        raise InputError(
            f"mask {path} has ids up to {labels.max()}; at most 255 objects are supported, number them 1-255"
        )
    labels = labels.astype(np.uint8)
    height, width = labels.shape
    if (height, width) == (info.height, info.width):
        return labels
    if abs(width / height - info.width / info.height) > ASPECT_TOLERANCE * (info.width / info.height):
        raise InputError(
            f"mask {path} is {width}x{height} but the frames are {info.width}x{info.height} "
            "(a different aspect ratio); draw the mask on the first kept frame"
        )
    if reporter is not None:
        reporter.warn(f"mask {path} is {width}x{height}; resized (nearest) to the frames' {info.width}x{info.height}")
    return cv2.resize(labels, (info.width, info.height), interpolation=cv2.INTER_NEAREST)


def load_annotations(mask: str | os.PathLike, info: VideoInfo, reporter=None) -> Annotations:
    """Read `--mask`: a PNG for the first kept frame, or a folder with `<frame name>.png` files
    (YouTube-VOS style: the first kept frame's is required, later ones add objects)."""
    mask = Path(mask)
    if not mask.exists():
        raise InputError(f"mask {mask} does not exist; pass the first frame's label PNG (or a folder of them)")
    if mask.is_dir():
        files = {name: mask / f"{name}.png" for name in info.names if (mask / f"{name}.png").is_file()}
        if info.names[0] not in files:
            raise InputError(f"mask folder {mask} has no {info.names[0]}.png for the first kept frame; add it")
        paths = list(files.values())  # in frame order, like info.names
    else:
        paths = [mask]
    index_of = {name: i for i, name in enumerate(info.names)}
    first = fit_mask(read_label_png(paths[0]), info, paths[0], reporter)
    if not first.any():
        raise InputError(
            f"mask {paths[0]} has no objects (every pixel is 0, background); "
            "paint objects with ids 1, 2, ... (palette or grayscale PNG)"
        )
    later = {index_of[p.stem]: fit_mask(read_label_png(p), info, p, reporter) for p in paths[1:]}
    return Annotations(first, later, paths)
