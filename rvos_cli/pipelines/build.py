"""One builder for every model: typed options and a runtime in, the task's adapter on its device out.

The model registry says how to load a model and wrap it for its task; this module names no model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.registry import model_spec
from rvos_cli.pipelines.device import Runtime, compiled
from rvos_cli.weights.resolve import ResolvedWeights, resolve_weights


class PropagationModel(Protocol):
    """A semi-supervised video object segmentation model, one frame at a time.

    start(frame [H, W, 3] uint8 RGB, labels [H, W] uint8: 0 background, object ids, prompts, num_frames)
    -> the first frame's labels, or None for `labels` as given; step(frame, new_labels=None, prompts=())
    -> [H, W] uint8 labels in the original ids. `new_labels` holds objects annotated on that frame,
    `prompts` objects given there by a box or points (models whose spec lists those prompts); ids not
    seen before join the tracking there. num_frames: the clip's length when known. working_size(h, w):
    the size it computes at, for the first note; settings(): what is in effect, for the summary.
    """

    name: str

    def start(
        self,
        frame: np.ndarray,
        labels: np.ndarray,
        prompts: tuple[ObjectPrompt, ...] = (),
        num_frames: int | None = None,
    ) -> np.ndarray | None: ...

    def step(
        self, frame: np.ndarray, new_labels: np.ndarray | None = None, prompts: tuple[ObjectPrompt, ...] = ()
    ) -> np.ndarray: ...

    def working_size(self, height: int, width: int) -> tuple[int, int]: ...

    def settings(self) -> dict[str, Any]: ...


def model_weights(options) -> ResolvedWeights | None:
    """The weights a model's options name (None for a model without weights). A missing download
    is MissingWeightsError (exit 3) here, before any decoding."""
    spec = model_spec(options.model)
    if spec.weights == "none":
        return None
    return resolve_weights(
        options.model,
        options.weights,
        options.checkpoint,
        getattr(options, "tokenizer", None),
        tokenizer_entry=spec.tokenizer,
        cache_dir=options.cache_dir,
        registry=options.registry,
    )


def build_model(options, runtime: Runtime, weights: ResolvedWeights | None = None):
    """The adapter of `options.model` (a `ReferringModel` or a `PropagationModel`), its network loaded
    from `weights` (default: those the options name) and moved to the runtime's device."""
    spec = model_spec(options.model)
    network = None
    if spec.weights != "none":
        weights = weights or model_weights(options)
        network = spec.load(weights.source).to(runtime.device)
    adapter = spec.adapter.from_options(
        network, options, device=runtime.device, defaults=weights.defaults if weights else {}
    )
    if runtime.compile:
        adapter.compile(compiled)
    return adapter


def build_propagator(
    options, runtime: Runtime, weights: ResolvedWeights | None = None
) -> tuple[PropagationModel, dict[str, Any]]:
    """(the propagator, the settings in effect for the run summary)."""
    weights = weights or model_weights(options)
    propagator = build_model(options, runtime, weights)
    named = {"weights": weights.name} if weights else {}
    return propagator, {**propagator.settings(), **named, **runtime.describe()}


def build_referrer(options, runtime: Runtime, weights: ResolvedWeights | None = None):
    """(the referring model on the runtime's device, its tokenizer)."""
    from rvos_cli.models.tokenizer import RobertaTokenizer

    weights = weights or model_weights(options)
    tokenizer = RobertaTokenizer(weights.tokenizer)  # before the slow model load: a missing file fails fast
    return build_model(options, runtime, weights), tokenizer


def random_weights(options, folder: Path | None = None, backbone: str | None = None, seed: int = 0) -> ResolvedWeights:
    """Random weights of `options.model` (of `backbone`, default its first) for benchmarks and tests
    without a download: the model's own `random` hook, else a state dict drawn in its official layout; a
    text model also gets a stand-in tokenizer written into `folder` (unless --tokenizer names one)."""
    spec = model_spec(options.model)
    variant = spec.variant(backbone) if spec.variants else None
    if spec.random is not None:
        source = spec.random(variant)
    else:
        from rvos_cli.models.random_weights import random_state_dict

        source = random_state_dict(spec.layout(variant), seed)
    tokenizer = getattr(options, "tokenizer", None)
    if spec.tokenizer is not None and tokenizer is None and folder is not None:
        from rvos_cli.models.tokenizer import write_stand_in_tokenizer

        tokenizer = write_stand_in_tokenizer(folder / "tokenizer")
    return ResolvedWeights(spec.name, source, tokenizer=Path(tokenizer) if tokenizer else None)
