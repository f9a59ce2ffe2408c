"""RoBERTa-base (Liu et al., 2019) built from its configuration, as the text encoder of the RVOS models."""

from __future__ import annotations

import torch
from torch import nn
from transformers import RobertaConfig, RobertaModel

# The values of roberta-base's config.json; a default RobertaConfig() is not roberta-base
# (different max positions, token types and layer-norm epsilon).
ROBERTA_BASE = {
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "layer_norm_eps": 1e-5,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
}


def roberta_base(pooler: bool = False, eager: bool = False) -> RobertaModel:
    """RoBERTa-base (no hub access), with or without the pooler.

    eager: the explicit softmax attention of the original transformers, bit-identical to the
    one the checkpoints were evaluated with (SDPA differs by float rounding).
    """
    config = RobertaConfig(**ROBERTA_BASE)
    if eager:
        config._attn_implementation = "eager"
    return RobertaModel(config, add_pooling_layer=pooler)


def materialize_text_buffers(encoder: RobertaModel) -> None:
    """Recreate RoBERTa's non-persistent index buffers, which a model built on `meta` lacks."""
    embeddings = encoder.embeddings
    positions = torch.arange(encoder.config.max_position_embeddings).expand((1, -1))
    embeddings.register_buffer("position_ids", positions, persistent=False)
    embeddings.register_buffer("token_type_ids", torch.zeros_like(positions), persistent=False)


class FeatureResizer(nn.Module):
    """Linear 768 -> 256, LayerNorm (eps 1e-12, as in the reference), then dropout (training only).
    In: [..., 768]; out: [..., 256]."""

    def __init__(self, input_dim: int = 768, output_dim: int = 256, dropout: float = 0.0):
        super().__init__()
        self.fc = nn.Linear(input_dim, output_dim)
        self.layer_norm = nn.LayerNorm(output_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.layer_norm(self.fc(x)))
