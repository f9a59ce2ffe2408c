"""MTTR's multimodal transformer: a DETR-style post-norm encoder over video + text tokens and
an object-query decoder, plus the text encoder whose output joins the video tokens.

Internally everything is batch-first ([batch, sequence, channels]); the reference is
sequence-first, which computes the same function.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from rvos_cli.models.common.attention import Attention
from rvos_cli.models.common.position_encoding import sine_position_encoding_2d
from rvos_cli.models.common.roberta import FeatureResizer, roberta_base

# The official configurations' transformer dropout (attention weights, residual branches, FFN, text
# projection); active in training only.
DROPOUT = 0.1


class EncoderLayer(nn.Module):
    """Post-norm self-attention + ReLU FFN; positions are added to queries and keys only."""

    def __init__(self, dim: int = 256, num_heads: int = 8, ffn_dim: int = 2048, dropout: float = DROPOUT):
        super().__init__()
        self.self_attn = Attention(dim, num_heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src, pos, key_padding_mask):
        q = k = src + pos
        src = self.norm1(src + self.dropout(self.self_attn(q, k, src, key_padding_mask)))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout(ffn))


class DecoderLayer(nn.Module):
    """Post-norm query self-attention, cross-attention to the memory, ReLU FFN."""

    def __init__(self, dim: int = 256, num_heads: int = 8, ffn_dim: int = 2048, dropout: float = DROPOUT):
        super().__init__()
        self.self_attn = Attention(dim, num_heads, dropout)
        self.multihead_attn = Attention(dim, num_heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt, query_pos, memory, pos, key_padding_mask):
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout(self.self_attn(q, k, tgt)))
        attended = self.multihead_attn(tgt + query_pos, memory + pos, memory, key_padding_mask)
        tgt = self.norm2(tgt + self.dropout(attended))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout(ffn))


class Encoder(nn.Module):
    def __init__(self, num_layers: int = 3):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer() for _ in range(num_layers))

    def forward(self, src, pos, key_padding_mask):
        for layer in self.layers:
            src = layer(src, pos, key_padding_mask)
        return src


class Decoder(nn.Module):
    """Returns every layer's output after the shared final LayerNorm: [L, B, N, C]."""

    def __init__(self, num_layers: int = 3, dim: int = 256):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer() for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt, query_pos, memory, pos, key_padding_mask):
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, query_pos, memory, pos, key_padding_mask)
            outputs.append(self.norm(tgt))
        return torch.stack(outputs)


class MultimodalTransformer(nn.Module):
    """Joint video-text encoder and object-query decoder, run on each frame separately.

    In: vid_embeds [T, B, C, h, w], vid_pad_mask [T, B, h, w] (True on padding),
    input_ids / attention_mask [B, S], obj_queries [N, C].
    Out: hs [L, T, B, N, C] (decoder outputs), vid_memory [T, B, C, h, w] (encoded video tokens).
    """

    def __init__(self, dim: int = 256):
        super().__init__()
        self.dim = dim
        self.encoder = Encoder()
        self.decoder = Decoder(dim=dim)
        self.text_encoder = roberta_base()
        self.txt_proj = FeatureResizer(self.text_encoder.config.hidden_size, dim, DROPOUT)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, S] ids -> [B, S, dim] projected RoBERTa features.

        A frozen text encoder (no parameter requiring a gradient, as the official training) runs
        without autograd, as the original's `inference_mode`; it still applies its dropout in training.
        """
        frozen = not any(p.requires_grad for p in self.text_encoder.parameters())
        with torch.no_grad() if frozen else contextlib.nullcontext():
            hidden = self.text_encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
        return self.txt_proj(hidden)

    def forward(self, vid_embeds, vid_pad_mask, input_ids, attention_mask, obj_queries):
        t, b, c, h, w = vid_embeds.shape
        txt = self.encode_text(input_ids, attention_mask).to(vid_embeds.dtype)
        txt = txt.unsqueeze(0).expand(t, -1, -1, -1).flatten(0, 1)  # [(t b), S, C]
        txt_pad_mask = (attention_mask != 1).unsqueeze(0).expand(t, -1, -1).flatten(0, 1)

        vid = vid_embeds.flatten(0, 1).flatten(2).transpose(1, 2)  # [(t b), h*w, C], row-major tokens
        vid_pad_mask = vid_pad_mask.flatten(0, 1)
        vid_pos = sine_position_encoding_2d(vid_pad_mask, self.dim).flatten(1, 2).to(vid.dtype)

        src = torch.cat((vid, txt), dim=1)
        pos = torch.cat((vid_pos, torch.zeros_like(txt)), dim=1)
        key_padding_mask = torch.cat((vid_pad_mask.flatten(1), txt_pad_mask), dim=1)
        memory = self.encoder(src, pos, key_padding_mask)

        vid_memory = memory[:, : h * w].transpose(1, 2).reshape(t, b, c, h, w)
        tgt = torch.zeros(t * b, *obj_queries.shape, dtype=memory.dtype, device=memory.device)
        hs = self.decoder(tgt, obj_queries.to(memory.dtype), memory, pos, key_padding_mask)
        return hs.unflatten(1, (t, b)), vid_memory
