"""Multi-head attention stored like `nn.MultiheadAttention` (the layout of DETR-family checkpoints)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Queries per SDPA call are limited so that the [B, heads, Lq, Lk] scores stay near this many
# elements when the math kernel runs (CPU with a mask, or fp32 on some GPUs).
ATTENTION_CHUNK_ELEMENTS = 2**26


def attend(scores: torch.Tensor, v: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
    """softmax(scores) v with the weights materialised, as `nn.MultiheadAttention(need_weights=True)` and
    Swin compute attention. In training the originals ran this arithmetic; SDPA's fused kernels round
    differently, which moves small gradient elements by about 1e-5 of their tensor's largest."""
    return F.dropout(scores.softmax(-1), dropout, training=dropout > 0) @ v


class Attention(nn.Module):
    """Multi-head attention with `nn.MultiheadAttention`'s parameters (q, k, v stacked in `in_proj_weight`).

    Batch-first, which computes the same function as the sequence-first original.
    In: query [B, Lq, C], key/value [B, Lk, C], key_padding_mask [B, Lk] (True = ignore). Out: [B, Lq, C].
    dropout: on the attention weights, in training only (as `nn.MultiheadAttention(dropout=...)`).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, query, key, value, key_padding_mask=None):
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q, k, v = (
            self.split_heads(F.linear(x, w, b)) for x, w, b in ((query, w_q, b_q), (key, w_k, b_k), (value, w_v, b_v))
        )
        mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        batch, heads, length, _ = q.shape
        step = max(1, ATTENTION_CHUNK_ELEMENTS // (batch * heads * k.shape[2]))
        dropout = self.dropout if self.training else 0.0
        if torch.is_grad_enabled():  # training: the original's arithmetic, for its gradients
            scores = (q * math.sqrt(1.0 / q.shape[-1])) @ k.transpose(-2, -1)
            x = attend(scores if mask is None else scores.masked_fill(~mask, float("-inf")), v, dropout)
        elif length <= step or dropout:
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        else:  # long queries against a few keys (pixels to words): bound the score matrix
            x = torch.cat(
                [
                    F.scaled_dot_product_attention(q[:, :, i : i + step], k, v, attn_mask=mask)
                    for i in range(0, length, step)
                ],
                dim=2,
            )
        return self.out_proj(x.transpose(1, 2).flatten(2))

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
