"""Opening a command's input: the kept span of a video file or a folder of frames."""

from __future__ import annotations

import os

from rvos_cli.pipelines.options import ClipOptions
from rvos_cli.video import VideoSource, open_video


def open_clip(input: str | os.PathLike, clip: ClipOptions, reporter=None) -> VideoSource:
    """The frames `--fps`, `--start`, `--end` and `--max-seconds` keep of `input`."""
    return open_video(
        input, fps=clip.fps, start=clip.start, end=clip.end, max_seconds=clip.max_seconds, reporter=reporter
    )
