"""Sine position encodings of DETR (2-D, for feature maps) and of ReferFormer's text (1-D)."""

from __future__ import annotations

import math

import torch


def _sine(embed: torch.Tensor, num_feats: int, temperature: float) -> torch.Tensor:
    """[..., 1] normalized positions -> [..., num_feats] with sin and cos interleaved."""
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=embed.device)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)
    pos = embed / dim_t
    return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_position_encoding_2d(
    pad_mask: torch.Tensor, dim: int = 256, offset: float = 0.0, temperature: float = 10000.0
) -> torch.Tensor:
    """Normalized 2-D sine encoding.

    In: pad_mask [N, H, W] bool (True on padded pixels). Out: [N, H, W, dim]: dim/2 y-features then
    dim/2 x-features, sin and cos interleaved. `offset` is added to the cumulative positions before
    normalizing: DETR (and MTTR) use 0, Deformable DETR (and its descendants) -0.5.
    """
    not_mask = ~pad_mask
    y = not_mask.cumsum(1, dtype=torch.float32)
    x = not_mask.cumsum(2, dtype=torch.float32)
    eps, scale = 1e-6, 2 * math.pi
    y = (y + offset) / (y[:, -1:, :] + eps) * scale
    x = (x + offset) / (x[:, :, -1:] + eps) * scale
    return torch.cat((_sine(y[..., None], dim // 2, temperature), _sine(x[..., None], dim // 2, temperature)), dim=3)


def sine_position_encoding_1d(pad_mask: torch.Tensor, dim: int = 256, temperature: float = 10000.0) -> torch.Tensor:
    """Normalized 1-D sine encoding of a token sequence (no -0.5 offset, unlike the 2-D one).

    In: pad_mask [B, L] bool (True on padding). Out: [B, L, dim], sin and cos interleaved.
    """
    x = (~pad_mask).cumsum(1, dtype=torch.float32)
    x = x / (x[:, -1:] + 1e-6) * (2 * math.pi)
    return _sine(x[..., None], dim, temperature)
