"""One builder per task: typed options and a runtime in, a model ready on its device out."""

from __future__ import annotations

from typing import Mapping, Protocol

import numpy as np
import torch

from rvos_cli.models.flow import FlowPropagator
from rvos_cli.models.rdevos.propagator import EVAL_DEFAULTS
from rvos_cli.models.referring import ReferringModel
from rvos_cli.models.registry import MODELS
from rvos_cli.models.tokenizer import TextTokenizer
from rvos_cli.pipelines.device import Runtime, compiled
from rvos_cli.pipelines.options import FlowOptions, PropagateOptions, RdevosOptions, ReferModelOptions
from rvos_cli.weights.resolve import ResolvedWeights, resolve_weights

AUTOCAST = {"fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Propagator(Protocol):
    """A semi-supervised video object segmentation model, one frame at a time.

    start(frame [H, W, 3] uint8 RGB, labels [H, W] uint8: 0 background, object ids);
    step(frame, new_labels=None) -> [H, W] uint8 labels in the original ids. `new_labels` holds
    objects annotated on that frame; ids not seen before join the tracking there.
    """

    name: str

    def start(self, frame: np.ndarray, labels: np.ndarray) -> None: ...

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None) -> np.ndarray: ...


def propagate_weights(options: PropagateOptions) -> ResolvedWeights | None:
    """The weights a propagation model needs (None for the weight-free flow tracker)."""
    if isinstance(options, FlowOptions):
        return None
    return resolve_weights(options.model, options.weights, options.checkpoint, cache_dir=options.cache_dir)


def build_propagator(
    options: PropagateOptions, runtime: Runtime, weights: ResolvedWeights | None = None
) -> tuple[Propagator, dict]:
    """(the propagator, the settings in effect for the run summary)."""
    if isinstance(options, FlowOptions):
        return FlowPropagator(size=options.size), {
            "size": options.size,
            **Runtime(torch.device("cpu"), "fp32").describe(),
        }
    if not isinstance(options, RdevosOptions):
        raise TypeError(f"no propagator for {type(options).__name__}")
    weights = weights or propagate_weights(options)
    settings = {
        key: _first(getattr(options, key), weights.defaults.get(key), EVAL_DEFAULTS[key])
        for key in ("mem_every", "top_k")
    }
    spec = MODELS[options.model]
    network = spec.load(weights.source)
    propagator = spec.adapter(
        network,
        size=options.size,
        upscale=options.upscale,
        device=runtime.device,
        autocast=AUTOCAST[runtime.precision],
        **settings,
    )
    if runtime.compile:
        propagator.compile(compiled)
    return propagator, {"size": options.size, **settings, "weights": weights.name, **runtime.describe()}


def refer_weights(options: ReferModelOptions) -> ResolvedWeights:
    spec = MODELS[options.model]
    return resolve_weights(
        options.model,
        options.weights,
        options.checkpoint,
        options.tokenizer,
        tokenizer_entry=spec.tokenizer,
        cache_dir=options.cache_dir,
    )


def build_referrer(
    options: ReferModelOptions, runtime: Runtime, weights: ResolvedWeights | None = None
) -> tuple[ReferringModel, TextTokenizer]:
    """(the referring model on the runtime's device, its tokenizer)."""
    weights = weights or refer_weights(options)
    tokenizer = TextTokenizer(weights.tokenizer)  # before the slow model load: a missing file fails fast
    spec = MODELS[options.model]
    size, max_size = options.input_bounds()
    model = spec.adapter(spec.load(weights.source, options.backbone), size=size, max_size=max_size)
    model.network.to(runtime.device)
    if runtime.compile:
        model.compile(compiled)
    return model, tokenizer


def _first(*values) -> int:
    return int(next(v for v in values if v is not None))


def random_weights(model: str, backbone: str | None = None, seed: int = 0) -> Mapping[str, torch.Tensor]:
    """Random weights in the official layout of `model` (and backbone), for benchmarks without a download."""
    from rvos_cli.models.random_weights import random_state_dict

    spec = MODELS[model]
    return random_state_dict(spec.layout(spec.check_variant(backbone)), seed)
