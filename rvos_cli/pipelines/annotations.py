"""What `rvos propagate` starts from: label masks (one PNG for the first frame, or a folder of per-frame
PNGs), and objects given from the shell by a box or points."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.video import VideoInfo, read_label_png
from rvos_cli.video.images import MASK_SCALE, read_header

ASPECT_TOLERANCE = 0.01


@dataclass
class Annotations:
    """first: [H, W] uint8 ids for frame 0; later: {frame index: [H, W] uint8} masks that add objects;
    files: the mask files read; prompts: {frame index: objects given there by a box or points}."""

    first: np.ndarray
    later: dict[int, np.ndarray]
    files: list[Path]
    prompts: dict[int, tuple[ObjectPrompt, ...]] = field(default_factory=dict)

    def objects(self) -> list[int]:
        """Every object id given, by a mask or a prompt."""
        ids = {int(i) for labels in [self.first, *self.later.values()] for i in np.unique(labels) if i}
        return sorted(ids | {p.object_id for prompts in self.prompts.values() for p in prompts})


def label_ids(labels: np.ndarray, what: str) -> np.ndarray:
    """[H, W] object ids as uint8; ids outside 0-255 (or not whole numbers) are an InputError, not wrapped."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"{what} must be a 2-D [H, W] array of object ids, got shape {labels.shape}")
    if labels.dtype == np.bool_:
        return labels.astype(np.uint8)
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise InputError(f"{what} must hold integer object ids, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise InputError(
            f"{what} has ids from {labels.min()} to {labels.max()}; ids are 0 (background) to 255, "
            "so at most 255 objects, numbered 1-255"
        )
    if np.issubdtype(labels.dtype, np.floating) and not np.array_equal(labels, np.round(labels)):
        raise InputError(f"{what} holds fractional values; object ids are whole numbers 0-255")
    return labels.astype(np.uint8)


def check_mask_size(width: int, height: int, info: VideoInfo, path: Path) -> None:
    """A mask the size of the frames, or of their aspect ratio (it is then resized)."""
    if (height, width) == (info.height, info.width):
        return
    if abs(width / height - info.width / info.height) > ASPECT_TOLERANCE * (info.width / info.height):
        raise InputError(
            f"mask {path} is {width}x{height} but the frames are {info.width}x{info.height} "
            "(a different aspect ratio); draw the mask on the first kept frame"
        )


def read_mask(path: Path, info: VideoInfo, reporter=None) -> np.ndarray:
    """A mask file as [H, W] uint8 ids at the frames' size. Its size is checked from the PNG header
    first: the frames' aspect ratio, and at most MASK_SCALE times their width and height."""
    header = read_header(path, "mask")
    if header.width and header.height:
        check_mask_size(header.width, header.height, info, path)
    labels = label_ids(read_label_png(path, MASK_SCALE * info.width, MASK_SCALE * info.height), f"mask {path}")
    height, width = labels.shape
    if (height, width) == (info.height, info.width):
        return labels
    if reporter is not None:
        reporter.warn(f"mask {path} is {width}x{height}; resized (nearest) to the frames' {info.width}x{info.height}")
    return cv2.resize(labels, (info.width, info.height), interpolation=cv2.INTER_NEAREST)


def load_annotations(mask: str | os.PathLike | None, info: VideoInfo, reporter=None, shell_prompts=()) -> Annotations:
    """Read `--mask`: a PNG for the first kept frame, or a folder with `<frame name>.png` files
    (YouTube-VOS style: the first kept frame's is required, later ones add objects); and place the
    `--box` / `--point` objects (`pipelines.prompts.ShellPrompt`) on their frames. The first frame must
    have an object, by its mask or a prompt."""
    from rvos_cli.pipelines.prompts import frame_prompts

    first, later, paths = np.zeros((info.height, info.width), np.uint8), {}, []
    if mask is not None:
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
        first = read_mask(paths[0], info, reporter)
        later = {index_of[p.stem]: read_mask(p, info, reporter) for p in paths[1:]}
    painted: dict[int, int] = {}
    for index, labels in sorted([(0, first), *later.items()], reverse=True):
        painted.update({int(i): index for i in np.unique(labels) if i})
    prompts = frame_prompts(list(shell_prompts), info.width, info.height, info.num_frames, painted)
    if not first.any() and not prompts.get(0):
        if paths:
            raise InputError(
                f"mask {paths[0]} has no objects (every pixel is 0, background); "
                "paint objects with ids 1, 2, ... (palette or grayscale PNG)"
            )
        raise InputError("the first frame has no object: give its mask with --mask, or a --box/--point on frame 0")
    return Annotations(first, later, paths, prompts)
