"""Loading ReferFormer from the official checkpoints (or the rvos safetensors conversion of them)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from rvos_cli.models.checkpoint import buffers_named, load_official
from rvos_cli.models.common.roberta import materialize_text_buffers
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.referformer.layout import detect_backbone, layout
from rvos_cli.models.referformer.model import ReferFormer


def load_referformer(
    source: str | os.PathLike | Mapping[str, torch.Tensor], backbone: str | None = None
) -> ReferFormer:
    """ReferFormer in eval mode, on the CPU, in float32, from a checkpoint or an official-layout state dict.

    Accepts the official `.pth` (a legacy pickle of {"model", "optimizer", "lr_scheduler", "epoch",
    "args"}), an rvos `.safetensors` conversion, or the state dict itself. The backbone is read from
    the keys unless given. A file that is not a ReferFormer checkpoint of that backbone raises one
    CheckpointError naming the keys that differ.
    """
    return load_official(
        source,
        lambda state, origin: layout(backbone or detect_backbone(state)),
        lambda official: ReferFormer(official.variant),
        lambda official: buffers_named(
            official, "relative_position_index", relative_position_index(window_of(official.variant))
        ),
        materialize_text_buffers,
    )


def window_of(backbone: str) -> tuple[int, int, int]:
    """The (D, H, W) window whose index table the Swin blocks of `backbone` store."""
    return (8, 7, 7) if backbone.startswith("video-swin") else (1, 7, 7)
