"""DETR's 2D sine position encoding for the video tokens."""

from __future__ import annotations

import math

import torch


def sine_position_encoding(pad_mask: torch.Tensor, dim: int = 256, temperature: float = 10000.0) -> torch.Tensor:
    """Normalized 2D sine encoding.

    In: pad_mask [N, H, W] bool (True on padded pixels). Out: [N, H, W, dim]: dim/2 y-features
    then dim/2 x-features, sin and cos interleaved.
    """
    num_feats = dim // 2
    not_mask = ~pad_mask
    y = not_mask.cumsum(1, dtype=torch.float32)
    x = not_mask.cumsum(2, dtype=torch.float32)
    eps, scale = 1e-6, 2 * math.pi
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=pad_mask.device)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)
    pos_x = x[..., None] / dim_t
    pos_y = y[..., None] / dim_t
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3)
