"""The official MTTR checkpoint layout (transformers 4.11.3 wrote the released files)."""

from __future__ import annotations

from functools import lru_cache

import torch

from rvos_cli.models.common.roberta import legacy_text_layout
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.mttr.mttr import MTTR

VARIANTS = ("video-swin-t",)
POSITION_IDS = "transformer.text_encoder.embeddings.position_ids"


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
    return CheckpointLayout(
        "mttr",
        variant,
        legacy_text_layout(shapes, "transformer.text_encoder."),
        optional=("*.relative_position_index",),
        dropped=(POSITION_IDS,),
        title="MTTR",
    )
