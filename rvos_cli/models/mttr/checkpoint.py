"""Loading MTTR from the official checkpoints (or the rvos safetensors conversion of them)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from rvos_cli.models.checkpoint import buffers_named, load_official
from rvos_cli.models.common.roberta import materialize_text_buffers
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.mttr.layout import layout
from rvos_cli.models.mttr.mttr import MTTR


def load_mttr(source: str | os.PathLike | Mapping[str, torch.Tensor], variant: str | None = None) -> MTTR:
    """MTTR in eval mode, on the CPU, in float32, from a checkpoint file or an official-layout state dict.

    Accepts the official `.pth.tar` (with its `model_state_dict` wrapper), ModelScope's
    `pytorch_model.pt`, an rvos `.safetensors` conversion, or the state dict itself. A file that
    is not an MTTR checkpoint raises one CheckpointError naming the keys that differ.
    """
    return load_official(
        source,
        lambda state, origin: layout(),
        lambda official: MTTR(),
        lambda official: buffers_named(official, "relative_position_index", relative_position_index()),
        materialize_text_buffers,
    )
