"""Every model with official checkpoints: its task, checkpoint layouts and loader, by name.

The converter, `rvos bench`'s random weights, the builders in `rvos_cli.pipelines` and the tests
find a model here; adding a model means one `ModelSpec` below (its package supplies the layout
and the loader).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from rvos_cli.errors import InputError
from rvos_cli.models import mttr, rdevos
from rvos_cli.models.checkpoint import read_checkpoint
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.mttr import layout as mttr_layout
from rvos_cli.models.mttr.referrer import MttrReferrer
from rvos_cli.models.rdevos import layout as rdevos_layout

Source = str | os.PathLike | Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    """name: as in weights.yaml and `--model`. variants: the published backbones, default first.
    layout(variant) -> the official checkpoint layout; detect_variant(state) -> the variant whose
    keys and shapes a state dict has; load(source, variant=None) -> the network in eval mode.
    adapter(network, **options): the network with its pre- and post-processing, as the task's
    pipeline uses it (a `ReferringModel`, or a propagator). tokenizer: the registry entry with the
    tokenizer files of a text model."""

    name: str
    title: str
    task: str
    variants: tuple[str, ...]
    layout: Callable[[str], CheckpointLayout]
    detect_variant: Callable[[Mapping[str, torch.Tensor]], str]
    load: Callable[..., nn.Module]
    adapter: Callable[..., object]
    tokenizer: str | None = None

    def layout_of(self, state: Mapping[str, torch.Tensor]) -> CheckpointLayout:
        return self.layout(self.detect_variant(state))

    def check_variant(self, variant: str | None) -> str:
        if variant is None:
            return self.variants[0]
        if variant not in self.variants:
            raise InputError(f"{self.title} has no backbone {variant!r}; use one of: {', '.join(self.variants)}")
        return variant


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mttr", "MTTR", "refer", mttr_layout.VARIANTS, mttr_layout.layout, mttr_layout.detect_variant,
                  lambda source, variant=None: mttr.load_mttr(source), MttrReferrer, tokenizer="roberta-base"),
        ModelSpec("rdevos", "RDE-VOS", "propagate", rdevos_layout.VARIANTS, rdevos_layout.layout,
                  rdevos_layout.detect_variant, lambda source, variant=None: rdevos.load_rdevos(source),
                  rdevos.RdevosPropagator),
    )
}


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; use one of: {', '.join(MODELS)}")
    return MODELS[name]


def checked_state(spec: ModelSpec, source: Source) -> tuple[dict[str, torch.Tensor], CheckpointLayout]:
    """The tensors of a checkpoint of `spec`'s model, checked against the layout of its variant."""
    state, origin = read_checkpoint(source)
    layout = spec.layout_of(state)
    layout.check(state, origin)
    return state, layout
