"""`rvos propagate`: stream frames through a propagation model, write label PNGs and an overlay video."""

from __future__ import annotations

import collections
import contextlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvos_cli.models.options import ModelOptions
from rvos_cli.pipelines.annotations import load_annotations
from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions
from rvos_cli.pipelines.prompts import ShellPrompt, check_prompts
from rvos_cli.ui import Reporter
from rvos_cli.video.outputs import check_output, check_replaceable_dir, check_video_output, refuse_overlaps


@dataclass(frozen=True)
class PropagateRequest:
    """Everything `rvos propagate` was asked to do; the options are already checked."""

    input: Path
    mask: Path | None
    options: ModelOptions
    runtime: RuntimeOptions = RuntimeOptions()
    clip: ClipOptions = ClipOptions()
    output: Path | None = None
    video: Path | None = None
    prompts: tuple[ShellPrompt, ...] = ()  # objects given by --box / --point


@dataclass
class PropagateSummary:
    """What `rvos propagate` did: its JSON summary and its one human line."""

    input: Path
    masks: list[Path]
    output: Path
    video: Path | None
    frames: int
    fps: float
    width: int
    height: int
    start: float
    end: float
    objects: list[int]
    model: str
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    object_stats: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": "propagate",
            "input": os.fspath(self.input),
            "mask": [os.fspath(p) for p in self.masks],
            "outputs": {"masks": os.fspath(self.output), "video": os.fspath(self.video) if self.video else None},
            "frames": self.frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "start": self.start,
            "end": self.end,
            "objects": self.objects,
            "object_stats": self.object_stats,
            "model": self.model,
            "device": self.settings.get("device", "cpu"),
            "options": self.settings,
            "timings": self.timings,
        }

    def human(self) -> str:
        video = f" and {self.video}" if self.video else ""
        return f"wrote {self.frames} masks to {self.output}{video} (model {self.model})"


def default_output(input: Path) -> Path:
    """clip.mp4 -> clip.masks (beside the input); frames/ -> frames.masks."""
    input = input.resolve()
    return input.with_name(input.stem + ".masks")


def check_outputs(request: PropagateRequest) -> tuple[Path, Path | None]:
    """The masks folder and the overlay video, checked before any work: neither is, holds or
    writes into an input (the video, the masks, the checkpoint), nor holds the other."""
    inputs = [request.input, request.mask, getattr(request.options, "checkpoint", None)]
    output = check_output(request.output or default_output(request.input), inputs, "--output", folder=True)
    check_replaceable_dir(output, "--output")
    video = None
    if request.video is not None:
        video = check_video_output(request.video, inputs, "--video")
        refuse_overlaps([(output, "--output", True), (video, "--video", False)], [])
    return output, video


def first_note(propagator, title: str, info, reason: str = "") -> str:
    """Which model runs, at which size it works, and why `--model auto` picked it."""
    height, width = propagator.working_size(info.height, info.width)
    note = f"{title}: {info.num_frames} frames of {info.width}x{info.height}, working at {width}x{height}"
    size = propagator.settings().get("size")
    if size and (height, width) == (info.height, info.width) and 0 < min(height, width) < size:
        note += f" (not upscaled to {size}; pass --size {size} to upscale)"
    return note + (f"; {reason}" if reason else "")


class ObjectStats:
    """Per object id: the frames where it has pixels, its area (fraction of the frame) summed over
    them, and the scores the model gave it (models that score objects)."""

    def __init__(self):
        self.frames: dict[int, list[int]] = {}
        self.area: dict[int, float] = {}
        self.scores: dict[int, list[float]] = {}

    def add(self, index: int, labels: np.ndarray) -> None:
        counts = np.bincount(labels.ravel(), minlength=256)
        for object_id in np.flatnonzero(counts[1:]) + 1:
            self.frames.setdefault(int(object_id), []).append(index)
            self.area[int(object_id)] = self.area.get(int(object_id), 0.0) + counts[object_id] / labels.size

    def add_scores(self, scores: dict[int, float]) -> None:
        for object_id, score in scores.items():
            self.scores.setdefault(int(object_id), []).append(float(score))

    def to_json(self, objects: list[int]) -> list[dict[str, Any]]:
        rows = []
        for object_id in sorted(set(objects) | set(self.frames)):
            frames = self.frames.get(object_id, [])
            row = {
                "id": object_id,
                "frames": len(frames),
                "present": _runs(frames),
                "mean_area": round(self.area.get(object_id, 0.0) / len(frames), 6) if frames else 0.0,
            }
            if object_id in self.scores:
                row["mean_score"] = round(float(np.mean(self.scores[object_id])), 6)
            rows.append(row)
        return rows


def _runs(frames: list[int]) -> list[list[int]]:
    """[0, 1, 2, 5, 6] -> [[0, 2], [5, 6]]: the spans (first and last frame) an object is present."""
    runs: list[list[int]] = []
    for index in frames:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return runs


WRITE_AHEAD = 4  # frames decoded ahead of the model, and written behind it


def run_propagate(
    request: PropagateRequest, reporter: Reporter, built: tuple | None = None, source=None
) -> PropagateSummary:
    """Validate, resolve the runtime, open the inputs, load the model, loop over frames, summarise.

    `built` (a propagator and its settings, from `build_propagator`) may be given ready-made, as
    `rvos bench` and batches do to keep their model loaded across runs; `source` the input already
    opened (a batch opens the next video while the model works on the current one).
    """
    from rvos_cli.models.registry import MODELS, title_of
    from rvos_cli.pipelines.device import resolve_runtime
    from rvos_cli.pipelines.propagation import propagate_frames
    from rvos_cli.pipelines.sources import open_clip
    from rvos_cli.pipelines.streams import prefetch
    from rvos_cli.pipelines.timing import Timings
    from rvos_cli.video import OverlayVideoWriter, PaletteWriter, overlay_labels

    spec = MODELS.get(request.options.model)
    if spec is not None:
        check_prompts(spec, request.prompts)
    output, video = check_outputs(request)
    if built is None:
        from rvos_cli.pipelines.build import model_weights

        weights = model_weights(request.options)  # a missing download fails here, before any decoding
    runtime = resolve_runtime(request.runtime, torch=spec is None or spec.torch)
    timings = Timings(runtime.clock_device)
    with timings("open"):
        source = source or open_clip(request.input, request.clip, reporter)
        info = source.info
        annotations = load_annotations(request.mask, info, reporter, request.prompts)
    with timings("load"):
        if built is None:
            from rvos_cli.pipelines.build import build_propagator

            built = build_propagator(request.options, runtime, weights)
        propagator, settings = built
    reporter.note(first_note(propagator, title_of(propagator.name), info, request.options.reason))
    stats = ObjectStats()
    with contextlib.ExitStack() as outputs:
        pngs = outputs.enter_context(PaletteWriter(output, info.names))
        overlay = outputs.enter_context(OverlayVideoWriter(video, info)) if video else None
        with (
            reporter.progress(f"propagate ({propagator.name})", info.num_frames) as advance,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvos-png") as png_writer,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvos-encode") as encoder,
            contextlib.closing(prefetch(timings.timed_iter("decode", source), depth=WRITE_AHEAD)) as frames,
        ):

            def write(index: int, labels: np.ndarray) -> None:
                with timings("write"):
                    pngs.write(index, labels)
                    stats.add(index, labels)

            def draw(frame: np.ndarray, labels: np.ndarray) -> None:
                with timings("overlay"):
                    overlay.write(overlay_labels(frame, labels))

            def done(futures: list[Future]) -> None:
                for future in futures:
                    future.result()
                advance(1)

            # Decoding runs ahead in a thread, the model here, the PNGs and the overlay behind in one
            # thread each, at most WRITE_AHEAD frames behind (a write error surfaces within that many).
            pending: collections.deque[list[Future]] = collections.deque()
            steps = propagate_frames(
                propagator,
                frames,
                annotations.first,
                runtime,
                annotations.later,
                annotations.prompts,
                timings,
                info.num_frames,
            )
            for index, frame, labels in steps:
                stats.add_scores(getattr(propagator, "object_scores", None) or {})
                labels = np.array(labels, copy=True)  # the writers may run after the model's next step
                futures = [png_writer.submit(write, index, labels)]
                if overlay is not None:
                    futures.append(encoder.submit(draw, frame, labels))
                pending.append(futures)
                while len(pending) > WRITE_AHEAD or (pending and all(f.done() for f in pending[0])):
                    done(pending.popleft())
            while pending:
                done(pending.popleft())
        with timings("finish"):
            outputs.close()
    objects = annotations.objects()
    return PropagateSummary(
        request.input,
        annotations.files,
        output,
        video,
        info.num_frames,
        info.fps,
        info.width,
        info.height,
        info.start,
        info.end,
        objects,
        propagator.name,
        settings,
        timings.rounded(),
        stats.to_json(objects),
    )
