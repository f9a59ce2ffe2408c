"""`rvos.Propagator`: first-frame masks carried through a video by any propagation model of the registry."""

from __future__ import annotations

import os
import threading
from typing import Iterator, Mapping

import numpy as np

from rvos.source import Video, video_source
from rvos_cli.errors import InputError
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.registry import MODELS, model_spec
from rvos_cli.pipelines.annotations import label_ids
from rvos_cli.pipelines.build import build_propagator
from rvos_cli.pipelines.device import resolve_runtime
from rvos_cli.pipelines.options import RuntimeOptions, propagate_options
from rvos_cli.pipelines.propagation import propagate_frames
from rvos_cli.weights import registry_entry
from rvos_cli.weights.resolve import ResolvedWeights


class Propagator:
    """Propagate label masks, as `rvos propagate` does.

    model: a propagation model ("flow", "rdevos", ...; `rvos propagate --help` lists them) or a registry
    name such as "rdevos-ytvos" (that model with those weights); checkpoint: weights fetched by hand (a
    file, a Hugging Face model folder, or a state dict in the official layout); cache_dir: the weights
    cache (default: as the CLI's). Loaded once, here.
    """

    def __init__(
        self,
        model: str = "flow",
        *,
        checkpoint: str | os.PathLike | Mapping | None = None,
        device: str = "auto",
        precision: str = "auto",
        size: int | None = None,
        mem_every: int | None = None,
        top_k: int | None = None,
        compile: bool = False,
        cache_dir: str | os.PathLike | None = None,
    ):
        weights = None
        if model not in MODELS:
            weights, model = model, registry_entry(model, cache_dir=cache_dir).model
        state = checkpoint if isinstance(checkpoint, Mapping) else None
        if state is not None and model_spec(model).weights == "none":
            raise InputError(f"a checkpoint is for learned models but model {model!r} uses no weights")
        runtime = RuntimeOptions(device, precision, compile)
        given = {"weights": weights, "checkpoint": None if state is not None else checkpoint, "cache_dir": cache_dir}
        options = propagate_options(model, runtime, size=size, mem_every=mem_every, top_k=top_k, **given)
        self.spec = model_spec(model)
        self.runtime = resolve_runtime(runtime, torch=self.spec.torch)
        resolved = None if state is None else ResolvedWeights(options.model, state)
        self.propagator, self.settings = build_propagator(options, self.runtime, resolved)
        self._streaming = threading.Lock()  # held while a track() stream is open

    @property
    def name(self) -> str:
        return self.propagator.name

    def track(
        self,
        video: Video,
        first_mask: np.ndarray | None = None,
        *,
        later: dict[int, np.ndarray] | None = None,
        prompts: dict[int, list[ObjectPrompt]] | None = None,
        fps: float | None = None,
        start=None,
        end=None,
        max_seconds: float = 0,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (frame index, labels [H, W] uint8) for every frame, the first one included.

        first_mask: [H, W] integer ids 0-255 (0 background) of the first frame (None: objects given by
        prompts alone); later: {frame index: mask} adding objects on later frames; prompts: {frame index:
        [rvos.ObjectPrompt]} objects given by a box or points (models that take them: sam2,
        sam3-tracker). video: a path or RGB uint8 frames [T, H, W, 3]. The
        model holds one video's state, so one stream runs at a time: a second `track()` started while
        another is open (interleaved, or in another thread) raises InputError; finish or `close()` the
        first, or use one Propagator per stream.
        """
        first = None if first_mask is None else label_ids(first_mask, "the first mask")  # here, not at frame 0
        later = {index: label_ids(mask, f"the mask of frame {index}") for index, mask in (later or {}).items()}
        prompts = {int(index): tuple(given) for index, given in (prompts or {}).items()}
        kinds = {"box" if p.box is not None else "point" for given in prompts.values() for p in given}
        if kinds - set(self.spec.prompts):
            raise InputError(f"model {self.spec.name} takes masks only; give the objects as masks")
        if first is None and not prompts.get(0):
            raise InputError("give the first frame's mask, or prompts on frame 0 (prompts={0: [ObjectPrompt(...)]})")
        return self._track(video, first, later, prompts, fps, start, end, max_seconds)

    def _track(self, video, first, later, prompts, fps, start, end, max_seconds) -> Iterator[tuple[int, np.ndarray]]:
        if not self._streaming.acquire(blocking=False):
            raise InputError(
                "this Propagator is already tracking a video (a track() stream is still open); finish or "
                "close() that stream first, or make one Propagator per stream"
            )
        try:
            source = video_source(video, fps, start, end, max_seconds)
            size = (source.info.height, source.info.width)
            first = np.zeros(size, np.uint8) if first is None else first
            for index, mask in [(0, first), *later.items()]:
                if mask.shape != size:
                    what = "the first mask" if index == 0 else f"the mask of frame {index}"
                    raise InputError(
                        f"{what} is {mask.shape[1]}x{mask.shape[0]} but the frames are {size[1]}x{size[0]}"
                    )
            steps = propagate_frames(
                self.propagator, source, first, self.runtime, later, prompts, num_frames=source.info.num_frames
            )
            for index, _, labels in steps:
                yield index, labels
        finally:
            self._streaming.release()
