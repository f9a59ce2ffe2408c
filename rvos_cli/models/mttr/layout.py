"""The official MTTR checkpoint layout (transformers 4.11.3 wrote the released files)."""

from __future__ import annotations

from functools import lru_cache

import torch

from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.mttr.mttr import MTTR

VARIANTS = ("video_swin_t",)
POSITION_IDS = "transformer.text_encoder.embeddings.position_ids"
EMBEDDINGS = "transformer.text_encoder.embeddings."
# transformers 4.11.3 lists the RoBERTa embeddings in this order (current versions differ).
EMBEDDINGS_ORDER = ("position_ids", "word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm")


@lru_cache(maxsize=1)
def layout(variant: str = VARIANTS[0]) -> CheckpointLayout:
    """Every tensor of an official MTTR checkpoint, in the official order (built on `meta`: no memory).

    The Swin index tables are computed by the model, so a file may lack them; `position_ids` is
    a persistent buffer only in the transformers that wrote the files, so it is read and dropped.
    """
    if variant not in VARIANTS:
        raise ValueError(f"MTTR has no variant {variant!r}; it has {', '.join(VARIANTS)}")
    with torch.device("meta"):
        model = MTTR()
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    shapes[POSITION_IDS] = (1, model.transformer.text_encoder.config.max_position_embeddings)
    embedding_keys = sorted(
        (k for k in shapes if k.startswith(EMBEDDINGS)),
        key=lambda k: EMBEDDINGS_ORDER.index(k[len(EMBEDDINGS) :].split(".")[0]),
    )
    first = next(i for i, k in enumerate(shapes) if k.startswith(EMBEDDINGS))
    rest = [k for k in shapes if not k.startswith(EMBEDDINGS)]
    order = rest[:first] + embedding_keys + rest[first:]
    return CheckpointLayout(
        "mttr",
        variant,
        {k: shapes[k] for k in order},
        optional=("*.relative_position_index",),
        dropped=(POSITION_IDS,),
        title="MTTR",
    )
