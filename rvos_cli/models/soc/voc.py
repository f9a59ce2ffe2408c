"""SOC's video-level object cluster (VOC): frame-level object queries -> video-level object queries."""

from __future__ import annotations

import torch
from torch import nn

from rvos_cli.models.common.attention import Attention
from rvos_cli.models.common.mlp import feed_forward


class SelfAttentionLayer(nn.Module):
    """Post-norm self-attention: x = norm(x + MHA(x + pos, x + pos, x)). In/out: [B, S, C]."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.self_attn = Attention(dim, num_heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        q = x if pos is None else x + pos
        return self.norm(x + self.self_attn(q, q, x))


class CrossAttentionLayer(nn.Module):
    """Post-norm cross-attention: x = norm(x + MHA(x + pos, memory + memory_pos, memory)).

    In: x [B, S, C], memory [B, M, C] (positions broadcastable to them). Out: [B, S, C].
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.multihead_attn = Attention(dim, num_heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, memory, pos: torch.Tensor, memory_pos: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.multihead_attn(x + pos, memory + memory_pos, memory))


class FFNLayer(nn.Module):
    """Post-norm feed-forward block: x = norm(x + linear2(relu(linear1(x))))."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + feed_forward(x, self.linear1, self.linear2))


class VOC(nn.Module):
    """Video-level object cluster (`window_size` 0, eval mode).

    An encoder mixes the frame queries of ALL frames (full attention across time, no position
    embedding); a decoder then turns the sentence feature into `num_queries` video-level object
    queries by attending to them (cross-attention BEFORE self-attention, as the original).

    In: frame_queries [B, T, Nf, C] (the LAST deformable-decoder layer), sentence [B, C].
    Out: video queries [B, N, C] (after `decoder_norm`).

    Each batch item is its own video: the original reshapes [L, T, B, Nf, C] to [L·B, T, Nf, C],
    which mixes time and batch for B > 1; here B stays a separate attention batch, so a batch of
    expressions equals one forward per expression (the official inference path).
    Registration order follows the original so `state_dict()` lists the official order.
    """

    def __init__(
        self,
        dim: int = 256,
        num_heads: int = 8,
        hidden_dim: int = 2048,
        num_frame_queries: int = 20,
        num_queries: int = 20,
        enc_layers: int = 3,
        dec_layers: int = 3,
    ):
        super().__init__()
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(dim, num_heads) for _ in range(dec_layers)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(dim, num_heads) for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(dim, hidden_dim) for _ in range(dec_layers))
        self.fq_pos = nn.Embedding(num_frame_queries, dim)
        self.query_embed = nn.Embedding(num_queries, dim)
        self.decoder_norm = nn.LayerNorm(dim)
        self.enc_self_attn = nn.ModuleList(SelfAttentionLayer(dim, num_heads) for _ in range(enc_layers))
        self.enc_ffn = nn.ModuleList(FFNLayer(dim, hidden_dim) for _ in range(enc_layers))

    def forward(self, frame_queries: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        b, t, nf, c = frame_queries.shape
        memory = self.encode(frame_queries.reshape(b, t * nf, c))  # (t nf) tokens, t-major
        # Frame-query slot n of every frame gets fq_pos[n].
        memory_pos = self.fq_pos.weight.repeat(t, 1)
        query_pos = self.query_embed.weight
        x = sentence[:, None].expand(b, query_pos.shape[0], c)
        for cross, self_attn, ffn in zip(
            self.transformer_cross_attention_layers, self.transformer_self_attention_layers, self.transformer_ffn_layers
        ):
            x = ffn(self_attn(cross(x, memory, query_pos, memory_pos), query_pos))
        return self.decoder_norm(x)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Frame-query encoder over all T·Nf tokens. In/out: [B, T·Nf, C]."""
        for self_attn, ffn in zip(self.enc_self_attn, self.enc_ffn):
            tokens = ffn(self_attn(tokens))
        return tokens
