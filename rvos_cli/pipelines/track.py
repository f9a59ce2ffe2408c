"""`rvos refer --track MODEL`: a referring model says which object, a promptable tracker carries it.

For each text, the frame where the referring model is most confident (its selected query's score on
that frame, over the frames the windows finalise) seeds the tracker with that frame's mask. The tracker
runs backward from the latest seed to the first frame (on the frames in reverse) and forward from the
earliest seed to the last, each object joining on its own seed frame; a text's mask is the forward
pass's on its seed frame and after it, the backward pass's before it. Objects are tracked each alone
(the tracker's sessions are per object), so the result per text equals the tracker run from that text's
seed alone, forward and on the reversed clip.

The referring model reads only the windows of the span it is given (--start/--end, or the first
--max-seconds); the tracker covers the whole video from --start to --end (or to its end). Frames of
the backward pass are decoded again in short chunks (memory stays bounded), and its masks wait, bit-packed
in a temporary file, for the forward pass that writes every frame in order.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Iterator

import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.video import VideoSource

CHUNK = 32  # frames decoded at once for the backward pass


@dataclass
class Seed:
    """Where text `query` is seeded: `frame` (index in the tracked clip), the referring model's `score`
    there, and its mask, bool [H, W]."""

    query: int
    frame: int
    score: float
    mask: np.ndarray


def find_seeds(parts: Iterable, queries: int) -> tuple[list[Seed | None], list]:
    """(per query the best seed, or None when the model never gave it a pixel; every window's result)
    from the windows of `segment_windows`: on each finalised frame, the selected query's score."""
    seeds: list[Seed | None] = [None] * queries
    results = []
    for part in parts:
        results.append(part.result)
        for q in range(queries):
            final = part.final - part.window.start
            scores = np.where(part.masks[q, :final].reshape(final, -1).any(1), part.frame_scores[q, :final], -np.inf)
            if final == 0 or not np.isfinite(scores.max()):
                continue
            t = int(np.argmax(scores))
            if seeds[q] is None or scores[t] > seeds[q].score:
                seeds[q] = Seed(q, part.window.start + t, float(scores[t]), part.masks[q, t].astype(bool))
    return seeds, results


def track_video(
    tracker,
    seeds: list[Seed | None],
    source: VideoSource,
    open_range: Callable[[int, int], Iterable[tuple[int, np.ndarray]]],
    model_call: Callable[[], ContextManager],
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(frame index, frame, masks [Q, H, W] bool) for every frame of `source`, the tracked clip.

    tracker: a propagation model taking objects by their own mask (`ObjectPrompt.mask`) and giving each
    object's mask (`object_masks()`); open_range(first, stop): frames [first, stop) of the clip, decoded
    anew; model_call(): the context each model call runs in (the caller's precision policy and timing)."""
    info = source.info
    queries, shape = len(seeds), (info.height, info.width)
    placed = [s for s in seeds if s is not None]
    if not placed:
        for index, frame in source:
            yield index, frame, np.zeros((queries, *shape), bool)
        return
    for seed in placed:
        if seed.frame >= info.num_frames:
            raise InputError(f"the seed frame {seed.frame} lies beyond the tracked clip; report this as a bug")
    last = max(s.frame for s in placed)
    with tempfile.TemporaryDirectory(prefix="rvos-track-") as folder:
        before = _backward(tracker, placed, open_range, model_call, last, queries, shape, Path(folder))
        first = min(s.frame for s in placed)
        for index, frame in source:
            masks = np.zeros((queries, *shape), bool)
            if index < last:
                masks[:] = np.unpackbits(before[index], count=queries * shape[0] * shape[1]).reshape(masks.shape)
            if index >= first:
                joining = [s for s in placed if s.frame == index]
                prompts = tuple(ObjectPrompt(s.query + 1, mask=s.mask) for s in joining)
                with model_call():
                    if index == first:
                        tracker.start(frame, None, prompts, info.num_frames - first)
                    else:
                        tracker.step(frame, None, prompts)
                for object_id, mask in tracker.object_masks().items():
                    if index >= seeds[object_id - 1].frame:
                        masks[object_id - 1] = mask
            yield index, frame, masks


def _backward(tracker, placed, open_range, model_call, last, queries, shape, folder: Path) -> np.ndarray:
    """The backward pass: frames `last` down to 0; each text's masks before its seed, bit-packed
    [last, ceil(Q*H*W / 8)] in a file under `folder`."""
    store = np.lib.format.open_memmap(
        folder / "before.npy", mode="w+", dtype=np.uint8, shape=(max(last, 1), -(-queries * shape[0] * shape[1] // 8))
    )
    started = False
    for stop in range(last + 1, 0, -CHUNK):
        chunk = list(open_range(max(0, stop - CHUNK), stop))
        for index, frame in reversed(chunk):
            prompts = tuple(ObjectPrompt(s.query + 1, mask=s.mask) for s in placed if s.frame == index)
            with model_call():
                if not started:
                    tracker.start(frame, None, prompts, last + 1)
                else:
                    tracker.step(frame, None, prompts)
            started = True
            if index < last:
                masks = np.zeros((queries, *shape), bool)
                for object_id, mask in tracker.object_masks().items():
                    if index < placed_frame(placed, object_id):
                        masks[object_id - 1] = mask
                store[index] = np.packbits(masks.reshape(-1))
    return store


def placed_frame(placed: list[Seed], object_id: int) -> int:
    return next(s.frame for s in placed if s.query + 1 == object_id)


def frame_range(
    source: VideoSource, first: int, stop: int, reopen: Callable[[float, float], VideoSource] | None = None
) -> list[tuple[int, np.ndarray]]:
    """Frames [first, stop) of `source`, decoded anew. With `reopen(start, end)` (the same input trimmed to
    [start, end) seconds), only that span is decoded: between the midpoints of the neighbouring frames'
    times, kept when it holds exactly those frames; otherwise a pass from the clip's start."""
    info = source.info
    if reopen is not None:
        times = info.timestamps or [info.start + i / info.fps for i in range(info.num_frames)]
        begin = info.start if first == 0 else (times[first - 1] + times[first]) / 2
        end = info.end if stop >= info.num_frames else (times[stop - 1] + times[stop]) / 2
        reopened = reopen(begin, end)
        if reopened.info.num_frames == stop - first and abs(reopened.info.start - times[first]) < 0.25 / info.fps:
            return [(first + offset, frame) for offset, frame in reopened]
    frames = []
    for index, frame in source:
        if index >= stop:
            break
        if index >= first:
            frames.append((index, frame))
    if len(frames) != stop - first:
        raise InputError(
            f"frames {first}-{stop - 1} could not be decoded again for tracking backward; re-encode the video "
            "(e.g. with ffmpeg) and try again"
        )
    return frames
