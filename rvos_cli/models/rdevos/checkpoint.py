"""Loading official RDE-VOS weights (flat .pth, ModelScope pytorch_model.pt, rvos .safetensors)."""

from __future__ import annotations

import os
from typing import Mapping

import torch

from rvos_cli.models.checkpoint import build_from_state, read_checkpoint
from rvos_cli.models.rdevos.layout import layout
from rvos_cli.models.rdevos.network import RDEVOS


def load_rdevos(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> RDEVOS:
    """An RDE-VOS network in eval mode, float32, on the CPU, from a checkpoint path or a state dict.

    BatchNorm `num_batches_tracked` counters may be absent (they do nothing in eval mode).
    """
    state, origin = read_checkpoint(source)
    official = layout()
    official.check(state, origin)
    counters = {k: torch.zeros((), dtype=torch.long) for k in official.shapes if k.endswith("num_batches_tracked")}
    return build_from_state(RDEVOS, official.kept(state), counters)
