"""A path or frames in memory, as the pipelines' video source."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rvos_cli.video import VideoSource, open_video
from rvos_cli.video.arrays import ArraySource

Video = str | os.PathLike | np.ndarray | list


def video_source(
    video: Video,
    fps: float | None = None,
    start: str | float | None = None,
    end: str | float | None = None,
    max_seconds: float = 0,
) -> VideoSource:
    """A video file or frames folder (the whole of it unless start / end / max_seconds say), or
    RGB uint8 frames [T, H, W, 3]."""
    if isinstance(video, (str, os.PathLike)):
        return open_video(Path(video), fps=fps, start=start, end=end, max_seconds=max_seconds)
    return ArraySource(video, fps or 24.0)
