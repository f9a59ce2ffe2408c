"""The official RDE-VOS checkpoint layout (flat state dicts of the released `.pth` files)."""

from __future__ import annotations

from functools import lru_cache

import torch

from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.rdevos.network import RDEVOS

VARIANTS = ("resnet50",)  # ResNet-50 key encoder, ResNet-18 value encoder


@lru_cache(maxsize=1)
def layout(variant: str = VARIANTS[0]) -> CheckpointLayout:
    """Every tensor of an official checkpoint (built on `meta`: no memory). BatchNorm counters,
    unused in eval, may be absent."""
    if variant not in VARIANTS:
        raise ValueError(f"RDE-VOS has no variant {variant!r}; it has {', '.join(VARIANTS)}")
    with torch.device("meta"):
        net = RDEVOS()
    shapes = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    return CheckpointLayout("rdevos", variant, shapes, optional=("*.num_batches_tracked",), title="RDE-VOS")
