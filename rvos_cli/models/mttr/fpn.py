"""MTTR's FPN-like spatial decoder: upsamples the encoded video tokens with backbone skips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FPNSpatialDecoder(nn.Module):
    """In: memory [N, 256, h/16, w/16], skips [[N, 192, h/8, w/8], [N, 96, h/4, w/4]].
    Out: per-pixel mask features [N, 8, h/4, w/4].
    """

    def __init__(self, context_dim: int = 256, skip_dims=(192, 96), mask_kernels_dim: int = 8):
        super().__init__()
        dims = [context_dim, context_dim // 2, context_dim // 4, context_dim // 8]
        self.lay1 = nn.Conv2d(context_dim, dims[0], 3, padding=1)
        self.gn1 = nn.GroupNorm(8, dims[0])
        self.lay2 = nn.Conv2d(dims[0], dims[1], 3, padding=1)
        self.gn2 = nn.GroupNorm(8, dims[1])
        self.lay3 = nn.Conv2d(dims[1], dims[2], 3, padding=1)
        self.gn3 = nn.GroupNorm(8, dims[2])
        self.lay4 = nn.Conv2d(dims[2], dims[3], 3, padding=1)
        self.gn4 = nn.GroupNorm(8, dims[3])
        self.adapter1 = nn.Conv2d(skip_dims[0], dims[1], 1)
        self.adapter2 = nn.Conv2d(skip_dims[1], dims[2], 1)
        self.out_lay = nn.Conv2d(dims[3], mask_kernels_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = F.relu(self.gn1(self.lay1(x)))
        x = F.relu(self.gn2(self.lay2(x)))
        x = self.merge(self.adapter1, skips[0], x)
        x = F.relu(self.gn3(self.lay3(x)))
        x = self.merge(self.adapter2, skips[1], x)
        x = F.relu(self.gn4(self.lay4(x)))
        return self.out_lay(x)

    @staticmethod
    def merge(adapter: nn.Conv2d, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        skip = adapter(skip)
        # Legacy nearest (src = floor(dst * in / out)) as in the reference, for odd sizes too.
        return skip + F.interpolate(x, size=skip.shape[-2:], mode="nearest")
