"""Checks on output paths, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from rvos_cli.errors import InputError, OutputError
from rvos_cli.video.reader import FRAME_EXTENSIONS

# Overlay video containers by extension: ffmpeg's muxer name for each.
VIDEO_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


def check_output(target: str | os.PathLike, inputs: list[str | os.PathLike], flag: str, folder: bool = False) -> Path:
    """Refuse outputs that would overwrite an input or land in an unwritable or missing folder.

    `folder`: the output is a folder (mask PNGs); otherwise it is a file, and an existing folder of
    that name is refused here, before any work, rather than when the finished file is renamed.
    """
    target = Path(target).absolute()
    if not folder and target.is_dir():
        raise InputError(f"{flag} {target} is an existing folder; give the path of a file to write")
    for source in inputs:
        source = Path(source).absolute()
        if target == source or target in source.parents:
            raise InputError(f"{flag} {target} would overwrite the input {source}; choose another output path")
        # Frames and masks are read from input folders (a frames dir, a mask folder, eval's PNGs).
        if source in target.parents and target.suffix.lower() in FRAME_EXTENSIONS and target.is_file():
            raise InputError(
                f"{flag} {target} would overwrite an image of the input folder {source}; choose another output path"
            )
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {target}: folder {parent} does not exist; create it or choose another output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {target}: folder {parent} is not writable; choose another output path")
    return target


def check_video_output(target: str | os.PathLike, inputs: list[str | os.PathLike], flag: str) -> Path:
    """check_output for an overlay video, whose extension picks the container (.mp4, .mov, .mkv, .avi)."""
    path = check_output(target, inputs, flag)
    if path.suffix.lower() not in VIDEO_CONTAINERS:
        raise InputError(
            f"{flag} {path}: unknown video container {path.suffix or '(no extension)'!r}; "
            f"end the name in {', '.join(VIDEO_CONTAINERS)}"
        )
    return path


def check_replaceable_dir(target: Path, flag: str) -> None:
    """An existing output folder is replaced only if it holds nothing but mask PNGs (a previous run)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise InputError(f"{flag} {target} is a file, not a folder; choose another output path")
    for root, _, files in os.walk(target):
        for name in files:
            if not name.lower().endswith(".png"):
                raise InputError(
                    f"{flag} {target} already holds other files ({Path(root, name)}); choose a new or empty folder"
                )
