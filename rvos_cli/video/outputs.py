"""Checks on output paths, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from rvos_cli.errors import InputError, OutputError
from rvos_cli.paths import CONTAINS, INSIDE, Resolver, conflicts

# Overlay video containers by extension: ffmpeg's muxer name for each.
VIDEO_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


def check_output(
    target: str | os.PathLike, inputs: list[str | os.PathLike | None], flag: str, folder: bool = False
) -> Path:
    """Refuse an output that would overwrite an input or land in an unwritable or missing folder.

    `folder`: the output is a folder (mask PNGs); otherwise it is a file, and an existing folder of
    that name is refused here, before any work, rather than when the finished file is renamed.
    Inputs are compared as files (`refuse_overlaps`), however either path is spelled.
    """
    target = Path(target).absolute()
    if not folder and target.is_dir():
        raise InputError(f"{flag} {target} is an existing folder; give the path of a file to write")
    refuse_overlaps([(target, flag, folder)], inputs)
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {target}: folder {parent} does not exist; create it or choose another output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {target}: folder {parent} is not writable; choose another output path")
    return target


def refuse_overlaps(outputs: list[tuple[str | os.PathLike, str, bool]], inputs: list[str | os.PathLike | None]) -> None:
    """InputError (exit 2) for the first output that is an input, a folder holding one (an output
    folder is replaced as a whole), or an image written into an input folder, or that is or holds
    another of the outputs. outputs: (path, flag, is a folder); compared by real path and by
    device and inode, so `../frames`, `sub/../clip.mp4`, symlinked folders and hard links are caught."""
    resolver = Resolver()
    given = [(resolver.place(path), (flag, Path(path)), is_folder) for path, flag, is_folder in outputs]
    sources = [(resolver.place(path), Path(path)) for path in inputs if path is not None]
    real = {key: where.target for where, key in sources}
    for (flag, path), source, how in conflicts(given, sources):
        raise InputError(_overlap_message(flag, path.absolute(), real[source], how))
    for (flag, path), (other_flag, other), how in conflicts(given, [(where, key) for where, key, _ in given]):
        if (flag, path) == (other_flag, other) or how == INSIDE:  # INSIDE comes with CONTAINS the other way round
            continue
        if how == CONTAINS:
            raise InputError(
                f"{other_flag} {other.absolute()} is inside the {flag} folder {path.absolute()}, which is replaced "
                "as a whole; write it elsewhere"
            )
        raise InputError(f"{flag} and {other_flag} name the same path ({path.absolute()}); choose two different paths")


def _overlap_message(flag: str, target: Path, source: Path, how: str) -> str:
    if how == INSIDE:
        verb = "would overwrite an image of" if target.exists() else "would add an image to"
        return f"{flag} {target} {verb} the input folder {source}; choose another output path"
    if how == CONTAINS:
        return (
            f"{flag} {target} would overwrite the input {source}, which is inside it (an output folder is "
            "replaced as a whole); choose another output path"
        )
    return f"{flag} {target} would overwrite the input {source} (the same file); choose another output path"


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
