"""CondInst-style dynamic mask heads (Tian et al., ECCV 2020), as ReferFormer and SOC use them.

A controller MLP predicts, for each query, the weights of a small stack of 1x1 convolutions that
is applied to the shared mask features, plus the query's relative coordinates in pixels.
"""

from __future__ import annotations

from itertools import pairwise

import torch


def dynamic_param_counts(in_channels: int, channels: int = 8, num_layers: int = 3) -> tuple[list[int], list[int]]:
    """Sizes of the weights and of the biases of each layer: in_channels -> channels -> ... -> 1."""
    dims = [in_channels] + [channels] * (num_layers - 1) + [1]
    return [i * o for i, o in pairwise(dims)], dims[1:]


def split_dynamic_params(params: torch.Tensor, in_channels: int, channels: int = 8, num_layers: int = 3):
    """[..., P] controller output -> (weights [..., out, in] per layer, biases [..., out] per layer).

    The layout is every weight first, then every bias, each weight row-major (out, in).
    """
    weight_nums, bias_nums = dynamic_param_counts(in_channels, channels, num_layers)
    splits = params.split(weight_nums + bias_nums, dim=-1)
    weights = [w.unflatten(-1, (b, -1)) for w, b in zip(splits[:num_layers], bias_nums)]
    return weights, list(splits[num_layers:])


def relative_coordinates(centers: torch.Tensor, size: tuple[int, int], stride: int = 4) -> torch.Tensor:
    """Query centers minus the pixel position of every mask-feature cell, in input pixels (not normalized).

    In: centers [N, Q, 2] (x, y in input pixels), size (h, w) of the mask features. Out: [N, Q, 2, h, w];
    cell (i, j) sits at (stride*j + stride//2, stride*i + stride//2).
    """
    h, w = size
    ys = torch.arange(0, h * stride, stride, dtype=centers.dtype, device=centers.device) + stride // 2
    xs = torch.arange(0, w * stride, stride, dtype=centers.dtype, device=centers.device) + stride // 2
    rel_x = centers[..., 0, None, None] - xs.view(1, 1, 1, w)
    rel_y = centers[..., 1, None, None] - ys.view(1, 1, h, 1)
    return torch.stack([rel_x.expand(-1, -1, h, w), rel_y.expand(-1, -1, h, w)], dim=2)


def dynamic_mask_head(
    mask_features: torch.Tensor,
    params: torch.Tensor,
    rel_coords: torch.Tensor | None,
    channels: int = 8,
    num_layers: int = 3,
) -> torch.Tensor:
    """Per-query mask logits from the shared mask features.

    In: mask_features [N, C, h, w], params [N, Q, P] (controller output), rel_coords [N, Q, 2, h, w]
    (appended as 2 input channels after the C features) or None. Out: [N, Q, h, w].

    The first layer is applied to the features and to the coordinates separately (then summed), so
    the features are never copied for each query: the same 1x1 convolution, without the
    [N, Q, C + 2, h, w] input.
    """
    n, c, h, w = mask_features.shape
    in_channels = c + (0 if rel_coords is None else 2)
    weights, biases = split_dynamic_params(params, in_channels, channels, num_layers)
    x = torch.einsum("nqoc,ncp->nqop", weights[0][..., :c], mask_features.flatten(2))
    if rel_coords is not None:
        x = x + torch.einsum("nqoc,nqcp->nqop", weights[0][..., c:], rel_coords.flatten(3))
    x = x + biases[0][..., None]
    for weight, bias in zip(weights[1:], biases[1:]):
        x = torch.einsum("nqoc,nqcp->nqop", weight, x.relu()) + bias[..., None]
    return x.view(n, -1, h, w)
