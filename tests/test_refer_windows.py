"""The window logic of `rvos refer`: spans, streaming into windows, background prefetch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import frames_to_tensor

from rvos_cli.errors import InputError
from rvos_cli.pipelines.options import WindowOptions
from rvos_cli.pipelines.refer import read_windows
from rvos_cli.pipelines.streams import prefetch


def window_spans(frames, window, overlap):
    return WindowOptions(window, overlap).spans(frames)


@pytest.mark.parametrize(
    "frames, window, overlap, expected",
    [
        (10, 24, 6, [(0, 10)]),
        (24, 24, 6, [(0, 24)]),
        (30, 24, 6, [(0, 24), (18, 30)]),
        (43, 24, 6, [(0, 24), (18, 42), (36, 43)]),
        (7, 3, 0, [(0, 3), (3, 6), (6, 7)]),
    ],
)
def test_window_spans(frames, window, overlap, expected):
    assert window_spans(frames, window, overlap) == expected


@pytest.mark.parametrize("window, overlap", [(0, 0), (8, 8), (8, -1)])
def test_window_spans_reject_bad_settings(window, overlap):
    with pytest.raises(InputError):
        window_spans(10, window, overlap)


def test_read_windows_streams_overlapping_frames_and_preprocesses_each_once():
    frames = ((i, np.full((6, 8, 3), i, np.uint8)) for i in range(43))
    spans = window_spans(43, 24, 6)
    seen = []

    def preprocess(chunk):
        seen.extend(int(f[0, 0, 0]) for f in chunk)
        return frames_to_tensor(chunk, (4, 4))

    windows = list(read_windows(frames, spans, preprocess))
    assert [(w.start, w.end) for w in windows] == spans
    assert seen == list(range(43))  # the overlaps' rows are reused, not recomputed
    for window in windows:
        assert [int(f[0, 0, 0]) for f in window.frames] == list(range(window.start, window.end))
        assert window.video.shape == (window.end - window.start, 3, 4, 4)
        expected = frames_to_tensor(window.frames, (4, 4))
        assert torch.equal(window.video, expected)


def test_read_windows_reports_a_short_video():
    frames = ((i, np.zeros((4, 4, 3), np.uint8)) for i in range(5))
    with pytest.raises(InputError, match="ended after 5 frames"):
        list(read_windows(frames, window_spans(8, 4, 0), lambda chunk: frames_to_tensor(chunk, (4, 4))))


def test_prefetch_keeps_order_and_raises_errors_in_the_consumer():
    assert list(prefetch(iter(range(10)), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise InputError("broken frame")

    seen = []
    with pytest.raises(InputError, match="broken frame"):
        for item in prefetch(failing()):
            seen.append(item)
    assert seen == [1]
