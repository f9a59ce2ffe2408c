"""DETR's MLP: the small feed-forward heads (boxes, mask kernels, dynamic-conv controllers)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """`num_layers` Linear layers with ReLU between them. In: [..., input_dim]; out: [..., output_dim]."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:] + [output_dim]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


# Rows per feed-forward pass are limited so that the [rows, d_ffn] hidden activations stay near this
# many elements (a transformer FFN over every stride-4 pixel of a clip would take gigabytes).
FFN_CHUNK_ELEMENTS = 2**25


def feed_forward(x: torch.Tensor, linear1: nn.Linear, linear2: nn.Linear) -> torch.Tensor:
    """The transformer FFN `linear2(relu(linear1(x)))` on [..., C], computed in chunks of rows."""
    rows = x.reshape(-1, x.shape[-1])
    step = max(1, FFN_CHUNK_ELEMENTS // linear1.out_features)
    if rows.shape[0] <= step:
        return linear2(F.relu(linear1(x)))
    out = torch.cat([linear2(F.relu(linear1(rows[i : i + step]))) for i in range(0, rows.shape[0], step)])
    return out.view(*x.shape[:-1], -1)
