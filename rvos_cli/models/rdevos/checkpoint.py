"""Loading official RDE-VOS weights (flat .pth, ModelScope pytorch_model.pt, rvos .safetensors)."""

from __future__ import annotations

import os
from typing import Mapping

import torch

from rvos_cli.models.checkpoint import buffers_named, load_official
from rvos_cli.models.rdevos.layout import layout
from rvos_cli.models.rdevos.network import RDEVOS


def load_rdevos(source: str | os.PathLike | Mapping[str, torch.Tensor], variant: str | None = None) -> RDEVOS:
    """An RDE-VOS network in eval mode, float32, on the CPU, from a checkpoint path or a state dict.

    BatchNorm `num_batches_tracked` counters may be absent (they do nothing in eval mode).
    """
    return load_official(
        source,
        lambda state, origin: layout(),
        lambda official: RDEVOS(),
        lambda official: buffers_named(official, "num_batches_tracked", torch.zeros((), dtype=torch.long)),
    )
