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

from rvos_cli.pipelines.annotations import load_annotations
from rvos_cli.pipelines.options import ClipOptions, PropagateOptions, RuntimeOptions
from rvos_cli.ui import Reporter
from rvos_cli.video.outputs import check_output, check_replaceable_dir, check_video_output, refuse_overlaps


@dataclass(frozen=True)
class PropagateRequest:
    """Everything `rvos propagate` was asked to do; the options are already checked."""

    input: Path
    mask: Path
    options: PropagateOptions
    runtime: RuntimeOptions = RuntimeOptions()
    clip: ClipOptions = ClipOptions()
    output: Path | None = None
    video: Path | None = None


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


def _first_note(options: PropagateOptions, name: str, info) -> str:
    """Which model runs, at which size, and why `--model auto` picked it."""
    note = f"{name}: {info.num_frames} frames of {info.width}x{info.height}"
    if options.model == "rdevos":
        from rvos_cli.models.rdevos.preprocess import processing_size

        height, width = processing_size(info.height, info.width, options.size, options.upscale)
        note += f", working at {width}x{height}"
        if (height, width) == (info.height, info.width) and 0 < min(height, width) < options.size:
            note += f" (not upscaled to {options.size}; pass --size {options.size} to upscale)"
    return note + (f"; {options.reason}" if options.reason else "")


WRITE_AHEAD = 4  # frames decoded ahead of the model, and written behind it


def run_propagate(
    request: PropagateRequest, reporter: Reporter, built: tuple | None = None, source=None
) -> PropagateSummary:
    """Validate, resolve the runtime, open the inputs, load the model, loop over frames, summarise.

    `built` (a propagator and its settings, from `build_propagator`) may be given ready-made, as
    `rvos bench` and batches do to keep their model loaded across runs; `source` the input already
    opened (a batch opens the next video while the model works on the current one).
    """
    from rvos_cli.pipelines.build import build_propagator, propagate_weights
    from rvos_cli.pipelines.device import resolve_runtime
    from rvos_cli.pipelines.refer import prefetch
    from rvos_cli.pipelines.sources import open_clip
    from rvos_cli.pipelines.timing import Timings
    from rvos_cli.video import OverlayVideoWriter, PaletteWriter, overlay_labels

    output, video = check_outputs(request)
    weights = propagate_weights(request.options) if built is None else None  # a missing download fails here
    runtime = resolve_runtime(request.runtime)
    timings = Timings(runtime.device)
    with timings("open"):
        source = source or open_clip(request.input, request.clip, reporter)
        info = source.info
        annotations = load_annotations(request.mask, info, reporter)
    with timings("load"):
        propagator, settings = built or build_propagator(request.options, runtime, weights)
    reporter.note(_first_note(request.options, propagator.name, info))
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
            for index, frame in frames:
                with timings("model"), runtime.math():
                    if index == 0:
                        propagator.start(frame, annotations.first)
                        labels = annotations.first
                    else:
                        labels = propagator.step(frame, annotations.later.get(index))
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
    objects = sorted(
        {int(i) for labels in [annotations.first, *annotations.later.values()] for i in np.unique(labels) if i}
    )
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
    )
