"""CBAM (Woo et al., ECCV 2018): channel then spatial attention, as used in the value fuser."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelGate(nn.Module):
    """Scale channels by sigmoid(MLP(avg-pool) + MLP(max-pool)). [B,C,h,w] -> [B,C,h,w]."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        # Index 0 is the Flatten of the original Sequential; keeps the checkpoint's `mlp.1` / `mlp.3` names.
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        attention = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(attention)[:, :, None, None]


class SpatialConv(nn.Module):
    """A 7x7 conv of the [max, mean] channel pool (wrapped so the weights load as `spatial.conv`)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    """Scale positions by sigmoid(conv7x7([max over C, mean over C])). [B,C,h,w] -> [B,C,h,w]."""

    def __init__(self):
        super().__init__()
        self.spatial = SpatialConv()

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Channel gate followed by spatial gate. [B,C,h,w] -> [B,C,h,w] (the gated features, not a residual)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        return self.SpatialGate(self.ChannelGate(x))
