"""Every model with official checkpoints: its task, checkpoint layouts, loader and adapter, by name.

The converter, `rvos bench`'s random weights, the builders in `rvos_cli.pipelines` and the tests
find a model here; adding a model means one `ModelSpec` below (its package supplies the layout,
the loader and the adapter).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from rvos_cli.errors import InputError
from rvos_cli.models import mttr, rdevos, referformer, soc
from rvos_cli.models.checkpoint import read_checkpoint
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.mttr import layout as mttr_layout
from rvos_cli.models.mttr.referrer import MttrReferrer
from rvos_cli.models.rdevos import layout as rdevos_layout
from rvos_cli.models.referformer.referrer import ReferFormerReferrer
from rvos_cli.models.soc.layout import layout_of as soc_layout_of
from rvos_cli.models.soc.referrer import SocReferrer

Source = str | os.PathLike | Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    """name: as in weights.yaml and `--model`. variants: the published backbones, default first.
    layout(variant) -> the official checkpoint layout; layout_of(state) -> the layout whose keys and
    shapes a state dict has (its backbone read from the keys); load(source, variant=None) -> the
    network in eval mode. adapter(network, **options): the network with its pre- and
    post-processing as the task's pipeline uses it (a `ReferringModel`, or a propagator).
    tokenizer: the registry entry with the tokenizer files of a text model."""

    name: str
    title: str
    task: str
    variants: tuple[str, ...]
    layout: Callable[[str], CheckpointLayout]
    layout_of: Callable[[Mapping[str, torch.Tensor]], CheckpointLayout]
    load: Callable[[Source, str | None], nn.Module]
    adapter: Callable[..., object]
    tokenizer: str | None = None

    def check_variant(self, variant: str | None) -> str:
        if variant is None:
            return self.variants[0]
        if variant not in self.variants:
            raise InputError(f"{self.title} has no backbone {variant!r}; use one of: {', '.join(self.variants)}")
        return variant


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "mttr",
            "MTTR",
            "refer",
            mttr_layout.VARIANTS,
            mttr_layout.layout,
            lambda state: mttr_layout.layout(),
            lambda source, variant=None: mttr.load_mttr(source),
            MttrReferrer,
            tokenizer="roberta-base",
        ),
        ModelSpec(
            "referformer",
            "ReferFormer",
            "refer",
            referformer.BACKBONES,
            referformer.layout,
            lambda state: referformer.layout(referformer.detect_backbone(state)),
            referformer.load_referformer,
            ReferFormerReferrer,
            tokenizer="roberta-base",
        ),
        ModelSpec(
            "soc",
            "SOC",
            "refer",
            soc.BACKBONES,
            soc.layout,
            soc_layout_of,
            soc.load_soc,
            SocReferrer,
            tokenizer="roberta-base",
        ),
        ModelSpec(
            "rdevos",
            "RDE-VOS",
            "propagate",
            rdevos_layout.VARIANTS,
            rdevos_layout.layout,
            lambda state: rdevos_layout.layout(),
            lambda source, variant=None: rdevos.load_rdevos(source),
            rdevos.RdevosPropagator,
        ),
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
