"""Frames already in memory (numpy RGB uint8) as a video source, for the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.video.reader import VideoInfo, VideoSource


class ArraySource(VideoSource):
    """`frames`: a [T, H, W, 3] uint8 array or a sequence of [H, W, 3] uint8 RGB frames of one size."""

    def __init__(self, frames: np.ndarray | Sequence[np.ndarray], fps: float = 24.0):
        self.frames = frames
        if len(frames) == 0:
            raise InputError("no frames given; pass a [T, H, W, 3] uint8 array or a list of RGB frames")
        first = np.asarray(frames[0])
        if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
            raise InputError(f"frames must be RGB uint8 [H, W, 3]; got {first.dtype} {tuple(first.shape)}")
        height, width = first.shape[:2]
        names = [f"{i:05d}" for i in range(len(frames))]
        self.info = VideoInfo(Path("<frames>"), True, fps, width, height, len(frames), 0.0, len(frames) / fps, names)

    def _frames(self) -> Iterator[np.ndarray]:
        for frame in self.frames:
            frame = np.asarray(frame)
            if frame.shape != (self.info.height, self.info.width, 3) or frame.dtype != np.uint8:
                raise InputError(
                    f"every frame must be uint8 {self.info.height}x{self.info.width}x3; got "
                    f"{frame.dtype} {tuple(frame.shape)}"
                )
            yield frame
