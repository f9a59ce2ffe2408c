"""The ffmpeg binary that imageio-ffmpeg ships: finding it and asking it about a file."""

from __future__ import annotations

import functools
import os
import re
import subprocess

from rvos_cli.errors import RvosError


@functools.cache
def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise RvosError(
            f"ffmpeg is not available ({exc}); reinstall imageio-ffmpeg with `pip install imageio-ffmpeg`"
        ) from None


def probe(path: str | os.PathLike) -> str:
    """ffmpeg's description of a file's streams (what `ffmpeg -i FILE` prints)."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", os.fspath(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
    )
    return result.stderr


def stream_kinds(path: str | os.PathLike) -> set[str]:
    """The kinds of stream a file holds, e.g. {"Video", "Audio"}; empty for a file ffmpeg cannot read."""
    return set(re.findall(r"Stream #\S+.*?: (Video|Audio|Subtitle|Data):", probe(path)))


def has_audio(path: str | os.PathLike) -> bool:
    return "Audio" in stream_kinds(path)
