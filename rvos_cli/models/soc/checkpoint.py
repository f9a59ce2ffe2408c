"""Loading SOC from the official checkpoints (or the rvos safetensors conversion of them)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from rvos_cli.errors import CheckpointError
from rvos_cli.models.checkpoint import buffers_named, load_official
from rvos_cli.models.common.roberta import materialize_text_buffers
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.soc.layout import CLASS_EMBED, INDEX, detect_backbone, layout, layout_of
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
    return load_official(
        source,
        lambda state, origin: soc_layout_of(state, origin, backbone),
        lambda official: SOC(official.variant, official.shapes[CLASS_EMBED][0]),
        lambda official: buffers_named(official, INDEX, relative_position_index()),
        materialize_text_buffers,
    )


def soc_layout_of(state: Mapping[str, torch.Tensor], origin: str = "checkpoint", backbone: str | None = None):
    """The layout of a SOC state dict; for a file that is no Video-Swin SOC at all, the error names
    what differs from the default layout."""
    if backbone is None:
        try:
            backbone = detect_backbone(state)
        except CheckpointError:
            layout().check(state, origin)
            raise
    return layout_of(state, backbone)
