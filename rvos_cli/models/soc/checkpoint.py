"""Loading SOC from the official checkpoints (or the rvos safetensors conversion of them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial

import torch

from rvos_cli.errors import CheckpointError
from rvos_cli.models.checkpoint import build_from_state, read_checkpoint
from rvos_cli.models.common.roberta import materialize_text_buffers
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.soc.layout import (
    CLASS_EMBED,
    INDEX,
    detect_backbone,
    layout,
    layout_of,
)
from rvos_cli.models.soc.model import SOC


def load_soc(source: str | os.PathLike | Mapping[str, torch.Tensor], backbone: str | None = None) -> SOC:
    """SOC in eval mode, float32, gradients off, from a checkpoint file or an official-layout state dict.

    Accepts the official trainer file (`{"model_state_dict": ..., "optimizer_state_dict": ...}`,
    A2D files with their numpy score included), an rvos `.safetensors` conversion, or the state
    dict itself. The backbone comes from the patch embedding unless given, `num_classes` from
    `class_embed.0.weight`. Loading is strict except for the integer buffers the
    model computes and the aliased box heads; a file of another model raises one CheckpointError
    naming the entries that differ.
    """
    state, origin = read_checkpoint(source)
    official = layout_of(state, backbone or _detect_backbone(state, origin))
    official.check(state, origin)
    index = relative_position_index()
    computed = {name: index for name in official.shapes if name.endswith(INDEX)}
    build = partial(SOC, official.variant, official.shapes[CLASS_EMBED][0])
    model = build_from_state(build, official.kept(state), computed)
    materialize_text_buffers(model.text_encoder)
    return model


def _detect_backbone(state: Mapping[str, torch.Tensor], origin: str) -> str:
    try:
        return detect_backbone(state)
    except CheckpointError:
        # Not a Video-Swin SOC file at all: name what differs from the default layout, and the file.
        layout().check(state, origin)
        raise
