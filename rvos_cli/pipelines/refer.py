"""`rvos refer`: a referring model over a streamed video in overlapping windows.

Per window the backbone runs once and all text queries go through the rest of the model as one
batch. A reader thread decodes and resizes the next window and a writer thread encodes the
previous one while the model runs, so only about two windows of frames are ever in memory. The
pipeline knows nothing of the model beyond `rvos_cli.models.referring.ReferringModel`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.models.options import ModelOptions, ReferModelOptions
from rvos_cli.models.tokenizer import MAX_TOKENS
from rvos_cli.paths import safe_name
from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions, WindowOptions
from rvos_cli.pipelines.streams import prefetch
from rvos_cli.pipelines.timing import Timings

if TYPE_CHECKING:
    import torch

COLOR_NAMES = ("blue", "red", "green", "yellow", "purple", "cyan", "orange", "pink")


@dataclass(frozen=True)
class ReferRequest:
    """Everything `rvos refer` was asked to do; the options are already checked."""

    input: Path
    texts: list[str]
    options: ReferModelOptions
    runtime: RuntimeOptions = RuntimeOptions()
    clip: ClipOptions = ClipOptions()
    windows: WindowOptions = WindowOptions()
    output: Path | None = None
    masks_dir: Path | None = None
    legend: bool = False
    overlay: bool = True  # False: masks only (a dataset's submission layout)
    query_names: tuple[str, ...] | None = None  # folders of --masks: query index (0, 1, ...) unless given
    track: ModelOptions | None = None  # --track: the tracker that carries each text's object
    tracked_clip: ClipOptions | None = None  # with --track, the span the tracker covers (default: as `clip`)


@dataclass
class Window:
    """Frames [start, end) of the clip: the original RGB frames and, one row per frame, what the reader
    made of them for the model (uint8 [T, h, w, 3] at the model input, or the frames themselves for a
    CUDA GPU, which resizes them)."""

    start: int
    end: int
    frames: list[np.ndarray]
    video: torch.Tensor


@dataclass
class WindowResult:
    """Per text query: selection score, selected object query, and mask area (fraction of pixels)."""

    start: int
    end: int
    scores: list[float]
    selected: list[int]
    mask_fraction: list[float]


def read_windows(
    frames: Iterable[tuple[int, np.ndarray]],
    spans: list[tuple[int, int]],
    preprocess: Callable[[list[np.ndarray]], torch.Tensor],
    timings: Timings | None = None,
    pin: bool = False,
) -> Iterator[Window]:
    """Group streamed frames into the (overlapping) windows, holding only the frames still needed.

    `preprocess` maps frames to a tensor with one row per frame; each frame goes through it once
    (the rows of an overlap are kept for the next window). `pin`: the window's tensor in page-locked
    memory, for an asynchronous copy to a GPU.
    """
    import torch

    timings = timings or Timings()
    frames = timings.timed_iter("decode", frames)
    held: dict[int, np.ndarray] = {}
    tail: torch.Tensor | None = None  # the rows of the last window that the next one starts with
    read = 0
    for k, (start, end) in enumerate(spans):
        while read < end:
            try:
                index, frame = next(frames)
            except StopIteration:
                raise InputError(
                    f"the video ended after {read} frames although {spans[-1][1]} were announced; "
                    "re-encode it (e.g. with ffmpeg) or pass --end"
                ) from None
            held[index] = frame
            read = index + 1
        with timings("preprocess"):
            kept = 0 if tail is None else len(tail)
            parts = [] if tail is None else [tail]
            if start + kept < end:
                parts.append(preprocess([held[i] for i in range(start + kept, end)]))
            video = parts[0] if len(parts) == 1 else torch.cat(parts)
            if pin:
                video = video.pin_memory()
        yield Window(start, end, [held[i] for i in range(start, end)], video)
        keep_from = spans[k + 1][0] if k + 1 < len(spans) else end
        held = {i: f for i, f in held.items() if i >= keep_from}
        tail = video[keep_from - start :] if keep_from < end else None


@dataclass
class ReferSummary:
    """What `rvos refer` did: its JSON summary and its human lines."""

    input: Path
    output: Path | None
    masks: Path | None
    model: str
    weights: str
    texts: list[str]
    frames: int
    fps: float
    width: int
    height: int
    input_size: tuple[int, int]
    windows: WindowOptions
    results: list[WindowResult]
    runtime: dict[str, str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    track: dict[str, Any] | None = None  # --track: the tracker, and per query its seed (frame, score) or None

    def to_json(self) -> dict[str, Any]:
        queries = []
        for q, text in enumerate(self.texts):
            queries.append(
                {
                    "index": q,
                    "text": text,
                    "color": COLOR_NAMES[q] if q < len(COLOR_NAMES) else "other",
                    "windows": [
                        {
                            "start": r.start,
                            "end": r.end,
                            "score": round(r.scores[q], 6),
                            "object_query": r.selected[q],
                            "mask_fraction": round(r.mask_fraction[q], 6),
                        }
                        for r in self.results
                    ],
                    **(self._seed(q) if self.track is not None else {}),
                }
            )
        return {
            "command": "refer",
            "input": os.fspath(self.input),
            "output": os.fspath(self.output) if self.output else None,
            "masks": os.fspath(self.masks) if self.masks else None,
            "model": self.model,
            "weights": self.weights,
            "frames": self.frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "model_input": {"height": self.input_size[0], "width": self.input_size[1]},
            "window": self.windows.window,
            "overlap": self.windows.overlap,
            "windows": len(self.results),
            **self.runtime,
            "queries": queries,
            "track": {k: v for k, v in self.track.items() if k != "seeds"} if self.track else None,
            "seconds": round(self.seconds, 3),
            "timings": self.timings,
            "frames_per_second": round(self.frames / self.seconds, 3) if self.seconds > 0 else None,
        }

    def _seed(self, q: int) -> dict[str, Any]:
        seed = self.track["seeds"][q]
        return {"seed_frame": seed.frame if seed else None, "seed_score": round(seed.score, 6) if seed else None}

    def human(self) -> str:
        written = [str(p) for p in (self.output, self.masks) if p]
        lines = [f"wrote {written[0]}" + (f" and masks in {written[1]}" if len(written) > 1 else "")]
        lines += [
            f"  query {q + 1} ({COLOR_NAMES[q] if q < len(COLOR_NAMES) else 'other'}): {text}"
            for q, text in enumerate(self.texts)
        ]
        return "\n".join(lines)


def default_output(input: Path) -> Path:
    """clip.mp4 -> clip.refer.mp4 beside the input (two clips of one name never share an output)."""
    input = input.resolve()
    return input.with_name(f"{input.stem}.refer.mp4")


def check_outputs(request: ReferRequest) -> tuple[list[str], Path, Path | None]:
    """The texts, the overlay video and the masks folder, checked before any work: neither output
    is, holds or writes into an input (the video, the checkpoint, the tokenizer), nor holds the other."""
    from rvos_cli.video.outputs import check_output, check_replaceable_dir, check_video_output, refuse_overlaps

    texts = query_texts(request.texts)
    for name in request.query_names or ():
        safe_name(name, "query folder")
    options = request.options
    inputs = [request.input, getattr(options, "checkpoint", None), getattr(options, "tokenizer", None)]
    output = None
    if request.overlay:
        output = check_video_output(request.output or default_output(request.input), inputs, "--output")
    elif request.masks_dir is None:
        raise InputError("nothing to write: give --masks when the overlay video is off")
    masks_dir = None
    if request.masks_dir is not None:
        masks_dir = check_output(request.masks_dir, inputs, "--masks", folder=True)
        check_replaceable_dir(masks_dir, "--masks")
        if output is not None:
            refuse_overlaps([(output, "--output", False), (masks_dir, "--masks", True)], [])
    return texts, output, masks_dir


def query_texts(texts: object) -> list[str]:
    """The text queries as a list: one string is one query; each must be a non-empty string."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise InputError(f"texts must be a string or a list of strings, got {type(texts).__name__}")
    for text in texts:
        if not isinstance(text, str):
            raise InputError(f"every text query must be a string, got {type(text).__name__} ({text!r})")
    if not texts or not all(" ".join(t.split()) for t in texts):
        raise InputError("give at least one non-empty text query with -t/--text")
    return list(texts)


def segment_window(
    model,
    video: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    size: tuple[int, int],
    original_size: tuple[int, int],
    runtime,
    timings: Timings,
):
    """One window: uint8 frames [T, H, W, 3] (at the model input `size` or at the frames' size) and Q
    queries -> masks [Q, T, H0, W0] uint8 (numpy), scores [Q, N], selected [Q], and the selected
    queries' confidence per frame [Q, T] (numpy; the window's score where the model has none per frame)."""
    import torch

    with timings("model_input"), torch.inference_mode():
        video = model.model_input(video.to(runtime.device, non_blocking=True), size)
    input_ids, attention_mask = input_ids.to(runtime.device), attention_mask.to(runtime.device)
    parts = []
    for out in forward_window(model, video, input_ids, attention_mask, runtime, timings):
        with timings("postprocess"), torch.inference_mode():
            masks, scores, selected = model.select(out, input_size=size, original_size=original_size)
            per_frame = model.frame_scores(out, selected)
            if per_frame is None:
                per_frame = scores.gather(1, selected[:, None].to(scores.device)).expand(-1, masks.shape[1])
            parts.append((masks.cpu().numpy(), scores.float().cpu(), selected.cpu(), per_frame.float().cpu().numpy()))
    if len(parts) == 1:
        return parts[0]
    masks, scores, selected, per_frame = zip(*parts)
    return np.concatenate(masks), torch.cat(scores), torch.cat(selected), np.concatenate(per_frame)


def forward_window(model, video, input_ids, attention_mask, runtime, timings: Timings | None = None) -> Iterator[dict]:
    """The network on one window: the normalised video [T, 3, h, w] encoded once, then the queries
    ([Q, L] ids and mask, on the device) decoded in groups (`query_batches`), each under the runtime's
    precision policy and without autograd; yields each group's raw output."""
    import torch

    timings = timings or Timings()
    with timings("model"), torch.inference_mode(), runtime.compute():
        features = model.encode(video)
    for queries in query_batches(model, input_ids.shape[0], video.shape[0]):
        with timings("model"), torch.inference_mode(), runtime.compute():
            out = model.decode(features, input_ids[queries], attention_mask[queries])
        yield out


def query_batches(model, queries: int, frames: int) -> list[slice]:
    """The queries of a window in groups of at most `model.decode_frames // frames` (at least one)."""
    size = queries if model.decode_frames is None else max(1, model.decode_frames // frames)
    return [slice(start, start + size) for start in range(0, queries, size)]


@dataclass
class WindowMasks:
    """One window's masks [Q, T, H0, W0] uint8 at the frames' size; frames [window.start, final)
    are final (no later window covers them); frame_scores [Q, T]: the selected queries' confidence
    per frame."""

    window: Window
    masks: np.ndarray
    final: int
    result: WindowResult
    frame_scores: np.ndarray | None = None


def segment_windows(model, input_ids, attention_mask, source, spans, size, runtime, timings) -> Iterator[WindowMasks]:
    """Every window of `source` through `model`, decoded (and resized, but for CUDA) in a background thread.

    On a CUDA GPU the frames go to the device at their own size and are resized there: the resize
    would cost the reader thread more than the model's forward."""
    import torch

    info = source.info
    if runtime.device_type == "cuda":
        stacked = lambda frames: torch.from_numpy(np.stack(frames))
        windows = read_windows(source, spans, stacked, timings, pin=True)
    else:
        windows = read_windows(source, spans, lambda frames: model.preprocess(frames, size), timings)
    for k, window in enumerate(prefetch(windows)):
        masks, scores, selected, per_frame = segment_window(
            model, window.video, input_ids, attention_mask, size, (info.height, info.width), runtime, timings
        )
        picked = scores.gather(1, selected[:, None])[:, 0]
        # Masks are 0/1: counting is ~50x cheaper than a float mean over [T, H0, W0] (0.2 s a window at 720p).
        fraction = [np.count_nonzero(m) / m.size for m in masks]
        result = WindowResult(window.start, window.end, picked.tolist(), selected.tolist(), fraction)
        yield WindowMasks(window, masks, spans[k + 1][0] if k + 1 < len(spans) else window.end, result, per_frame)


def run_refer(request: ReferRequest, reporter, built: tuple | None = None, source=None) -> ReferSummary:
    """Validate, resolve the runtime, open the input, load the model, loop over windows, summarise.

    `built` (a model and its tokenizer, from `build_referrer`, and with --track the tracker, from
    `build_propagator`) may be given ready-made, as `rvos bench` and batches do to keep their models
    loaded across runs; `source` the input already opened (a batch opens the next video while the
    model works on the current one).
    """
    from rvos_cli.models.registry import title_of
    from rvos_cli.pipelines.build import build_propagator, build_referrer, model_weights
    from rvos_cli.pipelines.device import resolve_runtime
    from rvos_cli.pipelines.sources import open_clip

    texts, output, masks_dir = check_outputs(request)
    weights = model_weights(request.options) if built is None else None  # a missing download fails here
    tracker_weights = model_weights(request.track) if request.track is not None and built is None else None
    runtime = resolve_runtime(request.runtime)
    timings = Timings(runtime.clock_device)
    with timings("open"):
        source = source or open_clip(request.input, request.clip, reporter)
    info = source.info
    with timings("load"):
        if built is None:
            built = build_referrer(request.options, runtime, weights)
            if request.track is not None:
                built = (*built, build_propagator(request.track, runtime, tracker_weights)[0])
        model, tokenizer, tracker = (*built, None)[:3]
        texts = [model.prepare_text(t) for t in texts]
        input_ids, attention_mask, truncated = tokenizer.encode(texts)
    for q in truncated:
        reporter.warn(
            f"query {q + 1} ({len(texts[q])} characters) is longer than the text encoder's limit of "
            f"{MAX_TOKENS} tokens; it was truncated and only its beginning is used"
        )
    size = model.input_size(info.height, info.width)
    spans = request.windows.spans(info.num_frames)
    reporter.note(
        f"{title_of(model.name)}: {info.num_frames} frames of {info.width}x{info.height}, working at "
        f"{size[1]}x{size[0]}, {len(spans)} window(s) of {request.windows.window}, {len(texts)} "
        f"quer{'y' if len(texts) == 1 else 'ies'} on {runtime.device_type} ({runtime.precision})"
        + (f"; then {title_of(tracker.name)} tracks each text's object through the video" if tracker else "")
    )
    windows = segment_windows(model, input_ids, attention_mask, source, spans, size, runtime, timings)
    outputs = ReferOutputs(output, masks_dir, request.query_names or len(texts), texts if request.legend else None)
    began = time.perf_counter()
    track = None
    if tracker is None:
        results = _write_windows(windows, info, outputs, reporter, timings)
    else:
        tracked = source if request.tracked_clip in (None, request.clip) else None
        tracked = tracked or open_clip(request.input, request.tracked_clip, reporter)
        results, seeds = _write_tracked(windows, info, tracked, tracker, request, outputs, reporter, runtime, timings)
        info = tracked.info
        track = {"model": tracker.name, "weights": tracker_weights.name if tracker_weights else "given", "seeds": seeds}
    seconds = time.perf_counter() - began
    weights_name = weights.name if weights else "given"
    return ReferSummary(
        request.input,
        output,
        masks_dir,
        model.name,
        weights_name,
        texts,
        info.num_frames,
        info.fps,
        info.width,
        info.height,
        size,
        request.windows,
        results,
        runtime.describe(),
        seconds,
        timings.rounded(),
        track,
    )


@dataclass
class ReferOutputs:
    """Where `rvos refer` writes: the overlay video (None: none), the masks folder (None: none), the
    masks' query folders (a count or names), and the legend's texts (None: no legend)."""

    video: Path | None
    masks: Path | None
    queries: int | tuple[str, ...]
    legend: list[str] | None

    @contextlib.contextmanager
    def open(self, info, timings: Timings):
        """A function writing one frame and its masks [Q, H, W] (frame index, frame, masks), the outputs
        open meanwhile and complete only when the block succeeds."""
        from rvos_cli.video import BinaryMaskWriter, OverlayVideoWriter, overlay_masks

        with contextlib.ExitStack() as stack:
            video = stack.enter_context(OverlayVideoWriter(self.video, info)) if self.video else None
            masks = stack.enter_context(BinaryMaskWriter(self.masks, info.names, self.queries)) if self.masks else None

            def write(index: int, frame: np.ndarray, frame_masks: np.ndarray) -> None:
                if video is not None:
                    with timings("overlay"):
                        video.write(overlay_masks(frame, frame_masks, legend=self.legend))
                if masks is not None:
                    with timings("write"):
                        masks.write(index, frame_masks)

            yield write
            with timings("finish"):
                stack.close()


def _write_windows(
    windows: Iterable[WindowMasks], info, outputs: ReferOutputs, reporter, timings
) -> list[WindowResult]:
    """Each window's final frames written (in a thread, while the model works on the next window)."""
    results: list[WindowResult] = []
    with (
        reporter.progress("refer", info.num_frames) as advance,
        outputs.open(info, timings) as write,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvos-encode") as encoder,
    ):

        def write_window(part: WindowMasks) -> None:
            # Only frames no later window covers are final; the overlap waits for the next window.
            for offset in range(part.final - part.window.start):
                write(part.window.start + offset, part.window.frames[offset], part.masks[:, offset])
            advance(part.final - part.window.start)

        pending: Future | None = None
        for part in windows:
            results.append(part.result)
            if pending is not None:
                pending.result()
            pending = encoder.submit(write_window, part)
        if pending is not None:
            pending.result()
    return results


def _write_tracked(windows, info, tracked, tracker, request, outputs, reporter, runtime, timings):
    """--track: the referring pass picks each text's seed; the tracker's passes give every frame's masks."""
    from rvos_cli.pipelines.propagation import model_call
    from rvos_cli.pipelines.sources import open_clip
    from rvos_cli.pipelines.track import find_seeds, frame_range, track_video

    with reporter.progress("refer (choosing each text's object)", info.num_frames) as advance:
        seeds, results = find_seeds(_counted(windows, advance), len(request.texts))
    for q, seed in enumerate(seeds):
        if seed is None:
            reporter.warn(f"query {q + 1}: the referring model gave it no pixel; it has no object to track")
    clip = request.tracked_clip or request.clip

    def reopen(start: float, end: float):
        return open_clip(request.input, dataclasses.replace(clip, start=start, end=end, max_seconds=0))

    def open_range(first: int, stop: int):
        return frame_range(tracked, first, stop, reopen)

    frames = tracked.info.num_frames
    with (
        reporter.progress(f"track ({tracker.name})", frames) as advance,
        outputs.open(tracked.info, timings) as write,
    ):
        calls = lambda: model_call(runtime, timings)  # noqa: E731
        for index, frame, masks in track_video(tracker, seeds, tracked, open_range, calls):
            write(index, frame, masks.astype(np.uint8))
            advance(1)
    return results, seeds


def _counted(windows: Iterable[WindowMasks], advance) -> Iterator[WindowMasks]:
    for part in windows:
        yield part
        advance(part.final - part.window.start)
