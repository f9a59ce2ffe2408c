"""ReferFormer's cross-modal FPN: the pixel decoder that turns encoder memory into mask features.

Each level first attends over all pixels of the clip (at reduced resolution), then to the words
of the expression, then goes through an FFN; the levels are merged top-down as in an FPN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rvos_cli.models.common.attention import Attention
from rvos_cli.models.common.mlp import feed_forward

# Self-attention resolution divisor per level, stride 4 to 32 (`cross_attn_1` .. `cross_attn_4`).
SR_RATIOS = (8, 4, 2, 1)


def clip_tokens(x: torch.Tensor, frames: int) -> torch.Tensor:
    """[B*T, C, h, w] -> [B, T*h*w, C], tokens in (t, h, w) order: one sequence per clip."""
    return x.unflatten(0, (-1, frames)).permute(0, 1, 3, 4, 2).flatten(1, 3)


def clip_maps(x: torch.Tensor, frames: int, size: tuple[int, int]) -> torch.Tensor:
    """Inverse of `clip_tokens`: [B, T*h*w, C] -> [B*T, C, h, w]."""
    return x.unflatten(1, (frames, *size)).permute(0, 1, 4, 2, 3).flatten(0, 1)


class ConvNorm(nn.Conv2d):
    """Bias-free convolution followed by GroupNorm(8) stored as `.norm`, then an optional ReLU
    (detectron2's `Conv2d` with a norm, which gives the checkpoint its `adapter_i.norm.*` names)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, relu: bool):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = nn.GroupNorm(8, out_channels)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(super().forward(x))
        return F.relu(x) if self.relu else x


class VisionLanguageBlock(nn.Module):
    """Post-norm clip self-attention (downsampled by `sr_ratio`), cross-attention to the text, FFN.

    In: x, pos [B*T, C, h, w]; text, text_pos [B, L, C]; text_pad [B, L] (True on padding).
    Out: [B*T, C, h, w].
    """

    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 2048, sr_ratio: int = 1):
        super().__init__()
        self.self_attn = Attention(d_model, nhead)
        self.multihead_attn = Attention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.sr_ratio = sr_ratio

    def forward(self, x, pos, text, text_pos, text_pad, frames: int):
        size = tuple(x.shape[-2:])
        pos = pos.expand_as(x)
        attn = self.clip_self_attention(x, pos, frames)
        tokens = self.norm1(clip_tokens(x + attn, frames))
        cross = self.multihead_attn(tokens + clip_tokens(pos, frames), text + text_pos, text, text_pad)
        tokens = self.norm2(tokens + cross)
        tokens = self.norm3(tokens + feed_forward(tokens, self.linear1, self.linear2))
        return clip_maps(tokens, frames, size)

    def clip_self_attention(self, x, pos, frames: int) -> torch.Tensor:
        """Attention among all pixels of a clip. Queries, keys and values are shrunk with legacy
        nearest resizing to (int(h/sr), int(w/sr)) and the result is resized back bilinearly."""
        h, w = x.shape[-2:]
        q, v = x + pos, x
        if self.sr_ratio > 1:
            small = (int(h / self.sr_ratio), int(w / self.sr_ratio))
            q, v = F.interpolate(q, size=small, mode="nearest"), F.interpolate(v, size=small, mode="nearest")
        q_tokens = clip_tokens(q, frames)
        out = clip_maps(self.self_attn(q_tokens, q_tokens, clip_tokens(v, frames)), frames, tuple(q.shape[-2:]))
        if self.sr_ratio > 1:
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out


class CrossModalFPNDecoder(nn.Module):
    """Mask features at stride 4 from the encoder memory (strides 8-32) and the stride-4 backbone map.

    `adapter_1` (stride-4 backbone channels -> 256) does not depend on the text, so the model applies
    it once per clip and passes its output as `fine`.
    In: fine [B*T, C, h4, w4], memory [B*T, C, h, w] at strides 8, 16, 32, pos [1, C, h, w] at strides
    4, 8, 16, 32, text / text_pos [B, L, C], text_pad [B, L]. Out: [B*T, mask_dim, h4, w4].
    """

    def __init__(self, backbone_channels: int, conv_dim: int = 256, mask_dim: int = 256, dim_feedforward: int = 2048):
        super().__init__()
        for level, in_channels in enumerate((backbone_channels, conv_dim, conv_dim, conv_dim), start=1):
            self.add_module(f"adapter_{level}", ConvNorm(in_channels, conv_dim, 1, relu=False))
            self.add_module(f"layer_{level}", ConvNorm(conv_dim, conv_dim, 3, relu=True))
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, 3, padding=1)
        for level, sr_ratio in enumerate(SR_RATIOS, start=1):
            self.add_module(f"cross_attn_{level}", VisionLanguageBlock(conv_dim, 8, dim_feedforward, sr_ratio))

    def forward(self, fine, memory, pos, text, text_pos, text_pad, frames: int) -> torch.Tensor:
        y = None
        for level in (4, 3, 2, 1):  # top-down: stride 32 to stride 4
            x = fine if level == 1 else getattr(self, f"adapter_{level}")(memory[level - 2])
            x = getattr(self, f"cross_attn_{level}")(x, pos[level - 1], text, text_pos, text_pad, frames)
            if y is not None:
                # Legacy nearest upsampling (src = floor(dst * in / out)), as FPNs do.
                x = x + F.interpolate(y, size=x.shape[-2:], mode="nearest")
            y = getattr(self, f"layer_{level}")(x)
        return self.mask_features(y)
