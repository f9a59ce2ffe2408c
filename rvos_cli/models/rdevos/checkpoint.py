"""Loading official RDE-VOS weights (flat .pth, ModelScope pytorch_model.pt, rvos .safetensors)."""

from __future__ import annotations

import os
from typing import Mapping

import torch

from rvos_cli.models.checkpoint import check_state_dict, read_state_dict, unwrap_state_dict
from rvos_cli.models.rdevos.network import RDEVOS


def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in an official checkpoint (built on the meta device, no allocation)."""
    with torch.device("meta"):
        net = RDEVOS()
    return {name: tuple(t.shape) for name, t in net.state_dict().items()}


def load_rdevos(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> RDEVOS:
    """An RDE-VOS network in eval mode, float32, on the CPU, from a checkpoint path or a state dict.

    BatchNorm `num_batches_tracked` counters may be absent (they do nothing in eval mode).
    """
    if isinstance(source, Mapping):
        state, origin = unwrap_state_dict(source, "state dict"), "state dict"
    else:
        state, origin = read_state_dict(source), str(source)
    if all(name.startswith("module.") for name in state):
        state = {name.removeprefix("module."): t for name, t in state.items()}
    expected = expected_state_dict_shapes()
    counters = tuple(name for name in expected if name.endswith("num_batches_tracked"))
    check_state_dict(state, expected, "RDE-VOS", optional=counters, origin=origin)
    state = {name: t.float() if t.is_floating_point() else t for name, t in state.items()}
    for name in counters:
        state.setdefault(name, torch.zeros((), dtype=torch.long))
    with torch.device("meta"):
        net = RDEVOS()
    # assign=True adopts the (possibly memory-mapped) tensors instead of copying them into new parameters.
    net.load_state_dict(state, strict=True, assign=True)
    return net.eval()
