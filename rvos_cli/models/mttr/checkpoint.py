"""Loading MTTR from the official checkpoints (or the rvos safetensors conversion of them)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from rvos_cli.models.checkpoint import build_from_state, read_checkpoint
from rvos_cli.models.common.roberta import materialize_text_buffers
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.mttr.layout import layout
from rvos_cli.models.mttr.mttr import MTTR


def load_mttr(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> MTTR:
    """MTTR in eval mode, on the CPU, in float32, from a checkpoint file or an official-layout state dict.

    Accepts the official `.pth.tar` (with its `model_state_dict` wrapper), ModelScope's
    `pytorch_model.pt`, an rvos `.safetensors` conversion, or the state dict itself. A file that
    is not an MTTR checkpoint raises one CheckpointError naming the keys that differ.
    """
    state, origin = read_checkpoint(source)
    official = layout()
    official.check(state, origin)
    index = relative_position_index()
    computed = {k: index for k in official.shapes if k.endswith("relative_position_index")}
    model = build_from_state(MTTR, official.kept(state), computed)
    materialize_text_buffers(model.transformer.text_encoder)
    return model
