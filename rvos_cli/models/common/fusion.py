"""ReferFormer's early vision-language fusion of the encoder inputs."""

from __future__ import annotations

import torch
from torch import nn

from rvos_cli.models.common.attention import Attention


class VisionLanguageFusionModule(nn.Module):
    """Every pixel token gates itself by what it reads from the words: `x * attention(x, text)`.

    Multiplicative, with no residual and no norm, as in the original.
    In: x [B, S, C] (the tokens of one clip), text / text_pos [B, L, C], text_pad [B, L] (True on padding).
    Out: [B, S, C].
    """

    def __init__(self, d_model: int = 256, nhead: int = 8):
        super().__init__()
        self.multihead_attn = Attention(d_model, nhead)

    def forward(
        self, x: torch.Tensor, text: torch.Tensor, text_pos: torch.Tensor, text_pad: torch.Tensor
    ) -> torch.Tensor:
        return x * self.multihead_attn(x, text + text_pos, text, text_pad)
