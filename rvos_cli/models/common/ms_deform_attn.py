"""Multi-scale deformable attention (Zhu et al., Deformable DETR, ICLR 2021) in plain PyTorch.

Each query attends to `n_points` sampled locations per head and per feature level, around its
reference point; the samples are read bilinearly (`grid_sample`, align_corners=False, zeros
outside), which is what the original CUDA kernel computes (h = y * H - 0.5, zero outside).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Frames per sampling pass are limited so that one level's [N, heads, head_dim, Lq, points]
# samples stay near this many elements (long clips at full resolution would need gigabytes).
SAMPLING_CHUNK_ELEMENTS = 2**25


def ms_deform_attn_core(
    value: torch.Tensor,
    spatial_shapes: list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Weighted sum of bilinear samples of every level.

    In: value [N, S, M, D] (S = sum of h*w over levels, M heads of D channels),
    sampling_locations [N, Lq, M, L, P, 2] (x, y in [0, 1]), attention_weights [N, Lq, M, L, P].
    Out: [N, Lq, M*D].
    """
    n, _, m, d = value.shape
    lq = sampling_locations.shape[1]
    grids = 2 * sampling_locations - 1
    out = value.new_zeros(n * m, d, lq)
    start = 0
    for level, (h, w) in enumerate(spatial_shapes):
        value_l = value[:, start : start + h * w].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)
        start += h * w
        grid_l = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # [N*M, Lq, P, 2]
        weights_l = attention_weights[:, :, :, level].transpose(1, 2).flatten(0, 1)  # [N*M, Lq, P]
        sampled = F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False)
        out += (sampled * weights_l[:, None]).sum(-1)  # [N*M, D, Lq]
    return out.view(n, m * d, lq).transpose(1, 2)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention with the original's parameters.

    In: query [N, Lq, C], reference_points [N, Lq, L, 2] (x, y) or [N, Lq, L, 4] (cx, cy, w, h),
    normalized to [0, 1] and already scaled by the valid ratios; value_input [N, S, C] (the
    flattened levels), spatial_shapes [(h, w)] per level, padding_mask [N, S] (True = padding).
    Out: [N, Lq, C].
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def forward(self, query, reference_points, value_input, spatial_shapes, padding_mask=None):
        n, lq, _ = query.shape
        value = self.value_proj(value_input)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.unflatten(-1, (self.n_heads, -1))
        offsets = self.sampling_offsets(query).view(n, lq, self.n_heads, self.n_levels, self.n_points, 2)
        weights = self.attention_weights(query).view(n, lq, self.n_heads, self.n_levels * self.n_points)
        # One softmax over all levels and points of a head.
        weights = weights.softmax(-1).view(n, lq, self.n_heads, self.n_levels, self.n_points)
        locations = self.sampling_locations(reference_points, offsets, spatial_shapes)

        step = max(1, SAMPLING_CHUNK_ELEMENTS // (value.shape[-1] * self.n_heads * lq * self.n_points))
        out = torch.cat(
            [
                ms_deform_attn_core(value[i : i + step], spatial_shapes, locations[i : i + step], weights[i : i + step])
                for i in range(0, n, step)
            ]
        )
        return self.output_proj(out)

    def sampling_locations(self, reference_points, offsets, spatial_shapes) -> torch.Tensor:
        """[N, Lq, M, L, P, 2]: offsets in pixels of each level around a point, or relative to a box."""
        if reference_points.shape[-1] == 2:
            # (w, h) of each level, so that an offset of 1 is one pixel of that level.
            normalizer = torch.tensor([(w, h) for h, w in spatial_shapes], dtype=offsets.dtype, device=offsets.device)
            return reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        return (
            reference_points[:, :, None, :, None, :2]
            + offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5
        )
