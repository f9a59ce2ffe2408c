"""The recurrent dynamic embedding update: compress [previous RDE, new memory frame] into one frame.

Keys and values go through their own spatio-temporal aggregation module (SAM: a non-local block,
then a residual 3D ASPP), and a (2,3,3) Conv3d merges the two time steps into one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NonLocal3D(nn.Module):
    """Dot-product non-local block (Wang et al., 2018) with (1,2,2) max-pooled phi/g, no BN.

    [B,C,T,h,w] -> [B,C,T,h,w]: x + W((theta(x)^T phi(x) / N) g(x)), N = number of pooled positions.
    """

    def __init__(self, channels: int):
        super().__init__()
        inner = channels // 2
        self.g = nn.Sequential(nn.Conv3d(channels, inner, 1), nn.MaxPool3d((1, 2, 2)))
        self.W = nn.Conv3d(inner, channels, 1)
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Sequential(nn.Conv3d(channels, inner, 1), nn.MaxPool3d((1, 2, 2)))

    def forward(self, x: Tensor) -> Tensor:
        b, _, t, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # [B, T*h*w, C/2]
        phi = self.phi(x).flatten(2)  # [B, C/2, N]
        g = self.g(x).flatten(2).transpose(1, 2)  # [B, N, C/2]
        affinity = theta @ phi
        y = (affinity / affinity.shape[-1]) @ g
        y = y.transpose(1, 2).reshape(b, -1, t, h, w)
        return x + self.W(y)


class AtrousBranch(nn.Module):
    """A bias-free (1,3,3) dilated Conv3d (or 1x1x1) followed by ReLU. [B,C,T,h,w] -> [B,C/4,T,h,w]."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        kernel, padding = ((1, 1, 1), 0) if dilation == 1 else ((1, 3, 3), (0, dilation, dilation))
        self.atrous_conv = nn.Conv3d(
            channels, channels // 4, kernel, padding=padding, dilation=(1, dilation, dilation), bias=False
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.atrous_conv(x))


class ASPP3D(nn.Module):
    """Four atrous branches (dilation 1, 2, 4, 6), concatenated, then a bias-free (1,3,3) conv and ReLU.

    [B,C,T,h,w] -> [B,C,T,h,w].
    """

    def __init__(self, channels: int):
        super().__init__()
        self.aspp1 = AtrousBranch(channels, 1)
        self.aspp2 = AtrousBranch(channels, 2)
        self.aspp3 = AtrousBranch(channels, 4)
        self.aspp4 = AtrousBranch(channels, 6)
        self.conv1 = nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1), bias=False)

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)]
        return F.relu(self.conv1(torch.cat(branches, dim=1)))


class SAM(nn.Module):
    """Spatio-temporal aggregation module: non-local block, then x + ASPP3D(x). [B,C,T,h,w] -> [B,C,T,h,w]."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ASPP3D(channels)
        self.non_local = NonLocal3D(channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.non_local(x)
        return self.conv1(x) + x


class MemoryCompressor(nn.Module):
    """RDE update. keys [1,64,2,h,w] and values [K,512,2,h,w] (T = [previous RDE, new frame]) -> T = 1."""

    def __init__(self, key_dim: int = 64, value_dim: int = 512):
        super().__init__()
        self.key_encoder = SAM(key_dim)
        self.value_encoder = SAM(value_dim)
        self.compress_key = nn.Conv3d(key_dim, key_dim, (2, 3, 3), padding=(0, 1, 1))
        self.compress_value = nn.Conv3d(value_dim, value_dim, (2, 3, 3), padding=(0, 1, 1))

    def forward(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        return self.compress_key(self.key_encoder(keys)), self.compress_value(self.value_encoder(values))
