"""MTTR's FPN-like spatial decoder (also SOC's): upsamples encoded video tokens with finer skips."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class FPNSpatialDecoder(nn.Module):
    """Top-down decoder from a coarse context map to per-pixel mask features.

    In: x [N, context_dim, h, w] (the coarsest map), skips [[N, skip_dims[k], h_k, w_k], ...],
    coarse to fine, each at least as large as the one before (MTTR: 2 skips at strides 8 and 4;
    SOC: 3 skips at strides 16, 8 and 4).
    Out: mask features [N, mask_kernels_dim, h_last, w_last].

    The parameter names are the originals': `lay1`/`lay2` on the context, then per skip k (1-based)
    `adapter{k}` (1x1) merged by nearest upsampling and `lay{k+2}`/`gn{k+2}` (3x3 + GroupNorm(8) +
    ReLU), halving the channels at each step, then `out_lay` (3x3, no norm). The modules are
    registered in the original's order (layers 1-4, adapters 1-2, then adapter3/lay5/gn5, ...),
    so `state_dict()` lists them as the official checkpoints do.
    """

    def __init__(self, context_dim: int = 256, skip_dims: Sequence[int] = (192, 96), mask_kernels_dim: int = 8):
        super().__init__()
        if len(skip_dims) < 2:
            raise ValueError(f"FPNSpatialDecoder needs at least 2 skip inputs, got {len(skip_dims)}")
        self.num_skips = len(skip_dims)
        dims = [context_dim // 2**i for i in range(self.num_skips + 2)]
        for i in range(4):
            self._add_layer(i + 1, dims[max(i - 1, 0)], dims[i])
        self.adapter1 = nn.Conv2d(skip_dims[0], dims[1], 1)
        self.adapter2 = nn.Conv2d(skip_dims[1], dims[2], 1)
        for k in range(3, self.num_skips + 1):
            self.add_module(f"adapter{k}", nn.Conv2d(skip_dims[k - 1], dims[k], 1))
            self._add_layer(k + 2, dims[k], dims[k + 1])
        self.out_lay = nn.Conv2d(dims[-1], mask_kernels_dim, 3, padding=1)

    def _add_layer(self, index: int, in_dim: int, out_dim: int) -> None:
        self.add_module(f"lay{index}", nn.Conv2d(in_dim, out_dim, 3, padding=1))
        self.add_module(f"gn{index}", nn.GroupNorm(8, out_dim))

    def _layer(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return F.relu(getattr(self, f"gn{index}")(getattr(self, f"lay{index}")(x)))

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self._layer(2, self._layer(1, x))
        for k, skip in enumerate(skips, start=1):
            skip = getattr(self, f"adapter{k}")(skip)
            # Legacy nearest (src = floor(dst * in / out)) as in the originals, for odd sizes too.
            x = skip + F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = self._layer(k + 2, x)
        return self.out_lay(x)
