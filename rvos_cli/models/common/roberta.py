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


def materialize_text_buffers(model: nn.Module) -> None:
    """Recreate the non-persistent index buffers of every RoBERTa inside `model`, which a model built
    on `meta` lacks."""
    for encoder in model.modules():
        if isinstance(encoder, RobertaModel):
            positions = torch.arange(encoder.config.max_position_embeddings).expand((1, -1))
            encoder.embeddings.register_buffer("position_ids", positions, persistent=False)
            encoder.embeddings.register_buffer("token_type_ids", torch.zeros_like(positions), persistent=False)


# transformers 4.11-4.24, which wrote the released checkpoints, list the RoBERTa embeddings in this
# order and save `position_ids` with them (current versions differ on both).
LEGACY_EMBEDDINGS_ORDER = (
    "position_ids",
    "word_embeddings",
    "position_embeddings",
    "token_type_embeddings",
    "LayerNorm",
)


def legacy_text_layout(shapes: dict[str, tuple[int, ...]], prefix: str) -> dict[str, tuple[int, ...]]:
    """`shapes` (a port's state dict) as a checkpoint of those transformers has them: the RoBERTa at
    `prefix` (e.g. "text_encoder.") gains `embeddings.position_ids` [1, max positions], and its
    embeddings take the legacy order where the first of them stood."""
    embeddings = prefix + "embeddings."
    positions = shapes[embeddings + "position_embeddings.weight"][0]
    shapes = {**shapes, embeddings + "position_ids": (1, positions)}
    moved = sorted(
        (k for k in shapes if k.startswith(embeddings)),
        key=lambda k: LEGACY_EMBEDDINGS_ORDER.index(k[len(embeddings) :].split(".")[0]),
    )
    rest = [k for k in shapes if not k.startswith(embeddings)]
    first = next(i for i, k in enumerate(shapes) if k.startswith(embeddings))
    return {k: shapes[k] for k in rest[:first] + moved + rest[first:]}


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
