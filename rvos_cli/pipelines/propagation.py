"""The one frame loop of every propagation model, shared by `rvos propagate`, `rvos.Propagator` and bench."""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator, Mapping

import numpy as np

from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.pipelines.device import Runtime
from rvos_cli.pipelines.timing import Timings


def propagate_frames(
    propagator,
    frames: Iterable[tuple[int, np.ndarray]],
    first: np.ndarray,
    runtime: Runtime,
    later: Mapping[int, np.ndarray] | None = None,
    prompts: Mapping[int, tuple[ObjectPrompt, ...]] | None = None,
    timings: Timings | None = None,
    num_frames: int | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(frame index, frame, labels [H, W] uint8) for every frame of `frames`, the first included.

    first: the first frame's labels; later: {frame index: labels} adding objects on later frames;
    prompts: {frame index: objects given there by a box or points}. Each model call runs under the
    runtime's precision policy (`Runtime.compute`) and, for torch models, without autograd. The first
    frame's labels are what the model returns for it, else the given labels. `timings` gets the
    model's time as "model"; num_frames: the clip's length, when known (some models use it).
    """
    later, prompts = later or {}, prompts or {}
    for index, frame in frames:
        with model_call(runtime, timings):
            if index == 0:
                labels = propagator.start(frame, first, prompts.get(0, ()), num_frames)
                labels = first if labels is None else labels
            else:
                labels = propagator.step(frame, later.get(index), prompts.get(index, ()))
        yield index, frame, labels


@contextlib.contextmanager
def model_call(runtime: Runtime, timings: Timings | None = None):
    """The context of one model call: timed as "model", without autograd (torch models), under the
    runtime's precision policy."""
    with (timings or Timings())("model"), _no_grad(runtime), runtime.compute():
        yield


def _no_grad(runtime: Runtime):
    if not runtime.uses_torch:
        return contextlib.nullcontext()
    import torch

    return torch.inference_mode()
