"""`rvos propagate`: stream frames through a propagation model, write label PNGs and an overlay video.

Models plug in through the Propagator protocol and the PROPAGATORS table; `--model auto`
resolves through `resolve_model`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.pipelines.annotations import load_annotations
from rvos_cli.pipelines.timing import Timings
from rvos_cli.ui import Reporter
from rvos_cli.video import OverlayVideoWriter, PaletteWriter, open_video, overlay_labels
from rvos_cli.video.outputs import check_output, check_replaceable_dir
from rvos_cli.weights import load_registry
from rvos_cli.weights.cache import installed_record


class Propagator(Protocol):
    """A semi-supervised video object segmentation model, one frame at a time.

    start(frame [H, W, 3] uint8 RGB, labels [H, W] uint8: 0 background, object ids);
    step(frame, new_labels=None) -> [H, W] uint8 labels in the original ids. `new_labels` holds
    objects annotated on that frame; ids not seen before join the tracking there.
    Optional: `options() -> dict` with the settings in effect (and "device") for the summary.
    """

    name: str

    def start(self, frame: np.ndarray, labels: np.ndarray) -> None: ...

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None) -> np.ndarray: ...


# Model name -> "module:class". A class receives the options its constructor names; the rest are dropped.
PROPAGATORS = {
    "flow": "rvos_cli.models.flow:FlowPropagator",
    "rdevos": "rvos_cli.pipelines.rdevos:RdevosPropagator",
}


def installed_weights(model: str) -> list[str]:
    """Names of the registry's installed weights for `model`, in registry order."""
    return [name for name, entry in load_registry().items()
            if entry.model == model and installed_record(name) is not None]


# Options only a learned model uses; giving one asks for a learned model.
LEARNED_OPTIONS = ("weights", "checkpoint", "mem_every", "top_k")


def resolve_model(model: str, options: dict[str, Any] | None = None) -> str:
    """`auto` picks rdevos when its weights are installed or a learned-model option is given, else flow."""
    given = [key for key in LEARNED_OPTIONS if (options or {}).get(key) is not None]
    if model == "auto":
        return "rdevos" if given or installed_weights("rdevos") else "flow"
    if model not in PROPAGATORS:
        raise InputError(f"unknown --model {model!r}; use auto or one of: {', '.join(PROPAGATORS)}")
    if model == "flow" and given:
        flag = "--" + given[0].replace("_", "-")
        raise InputError(f"{flag} is for learned models but --model flow uses no weights; drop {flag} or use --model rdevos")
    return model


def build_propagator(model: str, **options: Any) -> Propagator:
    """Instantiate a model from PROPAGATORS with the options it accepts (None means: its default)."""
    module_name, class_name = PROPAGATORS[resolve_model(model, options)].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = inspect.signature(cls).parameters
    return cls(**{key: value for key, value in options.items() if key in accepted and value is not None})


@dataclass
class PropagateRequest:
    input: Path
    mask: Path
    output: Path | None = None
    video: Path | None = None
    model: str = "auto"
    options: dict[str, Any] | None = None
    fps: float | None = None
    start: str | None = None
    end: str | None = None
    max_seconds: float = 10.0


def default_output(input: Path) -> Path:
    """clip.mp4 -> clip.masks (beside the input); frames/ -> frames.masks."""
    input = input.resolve()
    return input.with_name(input.stem + ".masks")


def run_propagate(request: PropagateRequest, reporter: Reporter) -> dict[str, Any]:
    timings = Timings()
    output = request.output or default_output(request.input)
    with timings("open"):
        source = open_video(request.input, fps=request.fps, start=request.start, end=request.end,
                            max_seconds=request.max_seconds, reporter=reporter)
        info = source.info
        annotations = load_annotations(request.mask, info, reporter)
        inputs = [request.input, request.mask]
        output = check_output(output, inputs, "--output")
        check_replaceable_dir(output, "--output")
        video = None
        if request.video is not None:
            video = check_output(request.video, inputs, "--video")
            if video == output:
                raise InputError("--video and --output name the same path; choose two different paths")
            if output in video.parents:
                raise InputError(f"--video {video} is inside the --output folder {output}, which is replaced as a "
                                 "whole; write the video elsewhere")
    with timings("load"):
        propagator = build_propagator(request.model, **(request.options or {}))
    with contextlib.ExitStack() as outputs:
        pngs = outputs.enter_context(PaletteWriter(output, info.names))
        overlay = outputs.enter_context(OverlayVideoWriter(video, info)) if video else None
        with reporter.progress(f"propagate ({propagator.name})", info.num_frames) as advance:
            for index, frame in timings.timed_iter("decode", source):
                with timings("model"):
                    if index == 0:
                        propagator.start(frame, annotations.first)
                        labels = annotations.first
                    else:
                        labels = propagator.step(frame, annotations.later.get(index))
                with timings("write"):
                    pngs.write(index, labels)
                if overlay is not None:
                    with timings("overlay"):
                        overlay.write(overlay_labels(frame, labels))
                advance(1)
        with timings("finish"):
            outputs.close()
    return _summary(request, info, output, video, propagator, annotations, timings)


def _summary(request, info, output, video, propagator, annotations, timings) -> dict[str, Any]:
    settings = propagator.options() if hasattr(propagator, "options") else {}
    return {
        "command": "propagate",
        "input": os.fspath(request.input),
        "mask": [os.fspath(p) for p in annotations.files],
        "outputs": {"masks": os.fspath(output), "video": os.fspath(video) if video else None},
        "frames": info.num_frames,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "start": info.start,
        "end": info.end,
        "objects": sorted({int(i) for labels in [annotations.first, *annotations.later.values()]
                           for i in np.unique(labels) if i}),
        "model": propagator.name,
        "device": settings.get("device", "cpu"),
        "options": settings,
        "timings": timings.rounded(),
    }
