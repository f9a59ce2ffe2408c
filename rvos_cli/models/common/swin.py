"""Swin Transformer (Liu et al., ICCV 2021) as ReferFormer's per-frame image backbone.

The stages are Video Swin's with one-frame windows of 7x7 (the relative-position table and
index of a (1, 7, 7) window are exactly the 2-D ones). Unlike Video Swin, the window is never
shrunk for small maps: every map is zero-padded to multiples of 7 and odd blocks always shift
by 3. Each stage output goes through its own LayerNorm (`norm{i}`); the patch merging, stored
inside the stage as in the detection Swin (`layers.{i}.downsample`), reads the un-normed tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rvos_cli.models.common.video_swin import PatchMerging, SwinStage

WINDOW = (1, 7, 7)
SHIFT = (0, 3, 3)
# name -> (embed_dim, depths, num_heads)
SIZES = {
    "t": (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "l": (192, (2, 2, 18, 2), (6, 12, 24, 48)),
}


class PatchEmbed(nn.Module):
    """Non-overlapping 4x4 patches. In: [N, 3, H, W]; out: [N, ceil(H/4), ceil(W/4), C]."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=4, stride=4)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self.proj(F.pad(x, (0, (-w) % 4, 0, (-h) % 4)))
        return self.norm(x.permute(0, 2, 3, 1))


class SwinLayer(SwinStage):
    """A stage with its patch merging (None for the last one). In/out: [N, 1, h, w, C]."""

    def __init__(self, dim: int, depth: int, num_heads: int, downsample: bool):
        super().__init__(dim, depth, num_heads, WINDOW, SHIFT, clamp_window=False)
        self.downsample = PatchMerging(dim) if downsample else None


class SwinBackbone(nn.Module):
    """Swin stages 1-4, frames independent.

    In: images [N, 3, H, W]. Out: four maps [N, C_i, h_i, w_i], C_i = embed_dim * 2**i at strides 4..32.
    """

    def __init__(self, embed_dim: int = 96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)):
        super().__init__()
        self.channels = tuple(embed_dim * 2**i for i in range(len(depths)))
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            SwinLayer(c, d, h, downsample=i < len(depths) - 1)
            for i, (c, d, h) in enumerate(zip(self.channels, depths, num_heads))
        )
        for i, c in enumerate(self.channels):
            self.add_module(f"norm{i}", nn.LayerNorm(c))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(images).unsqueeze(1)  # one-frame clips: [N, 1, h, w, C]
        outputs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            outputs.append(getattr(self, f"norm{i}")(x[:, 0]).permute(0, 3, 1, 2))
            if layer.downsample is not None:
                x = layer.downsample(x)
        return outputs
