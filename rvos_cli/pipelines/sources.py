"""Opening a command's input: the kept span of a video file or a folder of frames."""

from __future__ import annotations

import itertools
import os
from typing import Iterator

import numpy as np

from rvos_cli.pipelines.options import ClipOptions
from rvos_cli.video import VideoSource, open_video


def open_clip(input: str | os.PathLike, clip: ClipOptions, reporter=None) -> VideoSource:
    """The frames `--fps`, `--start`, `--end` and `--max-seconds` keep of `input`."""
    return open_video(
        input, fps=clip.fps, start=clip.start, end=clip.end, max_seconds=clip.max_seconds, reporter=reporter
    )


class DecodedAhead(VideoSource):
    """`source` with its first `count` frames decoded when this is built (in a batch, on the thread
    that prepares the next video), so the model does not wait for them. One pass reads the held
    frames and then the rest; a further pass reads `source` afresh."""

    def __init__(self, source: VideoSource, count: int):
        self.info = source.info
        self._source = source
        self._rest = iter(source)
        self._head = list(itertools.islice(self._rest, count))

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self._rest is None:
            return iter(self._source)
        head, rest = self._head, self._rest
        self._head, self._rest = [], None
        return itertools.chain(head, rest)


def open_ahead(input: str | os.PathLike, clip: ClipOptions, count: int, reporter=None) -> VideoSource:
    """`open_clip` with the first `count` frames already decoded."""
    return DecodedAhead(open_clip(input, clip, reporter), count)
