"""Checks on output paths, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from rvos_cli.errors import InputError
from rvos_cli.video.reader import FRAME_EXTENSIONS


def check_output(target: str | os.PathLike, inputs: list[str | os.PathLike], flag: str) -> Path:
    """Refuse outputs that would overwrite an input or land in an unwritable or missing folder."""
    target = Path(target).absolute()
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
        raise InputError(f"{flag} {target}: folder {parent} is not writable; choose another output path")
    return target


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
