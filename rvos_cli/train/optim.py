"""The official MTTR optimisation: AdamW over three parameter groups, gradient clipping, MultiStepLR."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class OptimConfig:
    """Learning rates of the three groups (everything else, names containing `backbone`, names
    containing `text_encoder`), AdamW's weight decay, the clipping norm (0: none), and the
    learning-rate schedule: multiplied by `lr_gamma` at each epoch of `lr_milestones`."""

    lr: float = 1e-4
    lr_backbone: float = 1e-5
    lr_text_encoder: float = 5e-5
    weight_decay: float = 1e-4
    clip_max_norm: float = 0.1
    lr_milestones: tuple[int, ...] = (20,)
    lr_gamma: float = 0.4


def param_groups(model: nn.Module, config: OptimConfig) -> list[dict]:
    """The original's three groups, in its order, each in `named_parameters` order; frozen tensors left out."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if "backbone" not in n and "text_encoder" not in n]},
        {"params": [p for n, p in named if "backbone" in n], "lr": config.lr_backbone},
        {"params": [p for n, p in named if "text_encoder" in n], "lr": config.lr_text_encoder},
    ]


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, config), lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig) -> torch.optim.lr_scheduler.MultiStepLR:
    """Stepped once per epoch."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.lr_milestones), gamma=config.lr_gamma)
