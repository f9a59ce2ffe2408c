"""The official ReferFormer checkpoint layouts, one per backbone (transformers 4.11.3 wrote the files)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import torch

from rvos_cli.errors import CheckpointError
from rvos_cli.models.common.roberta import legacy_text_layout
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.referformer.model import BACKBONES, ReferFormer

BODY = "backbone.0.body."
POSITION_IDS = "text_encoder.embeddings.position_ids"
# The box-refinement heads, registered twice by the original (`decoder.bbox_embed = bbox_embed`).
ALIAS, CANONICAL = "transformer.decoder.bbox_embed.", "bbox_embed."


@lru_cache(maxsize=len(BACKBONES))
def layout(backbone: str = "video-swin-t") -> CheckpointLayout:
    """Every tensor of an official ReferFormer checkpoint with `backbone`, in the official order.

    Built from the model on `meta` (no memory). The Swin index tables are computed by the model, so a
    file may lack them; `position_ids` is persistent only in the transformers that wrote the files, so
    it is read and dropped; thop's profiling counters, which the official loader ignores, too. The
    `transformer.decoder.bbox_embed.*` copies are aliases of `bbox_embed.*`, whose values win.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"ReferFormer has no backbone {backbone!r}; it has {', '.join(BACKBONES)}")
    with torch.device("meta"):
        model = ReferFormer(backbone)
    shapes = legacy_text_layout({name: tuple(t.shape) for name, t in model.state_dict().items()}, "text_encoder.")
    names = list(shapes)
    aliases = {ALIAS + k[len(CANONICAL) :]: k for k in shapes if k.startswith(CANONICAL)}
    names[names.index("transformer.reference_points.weight") : 0] = list(aliases)
    shapes.update({alias: shapes[canonical] for alias, canonical in aliases.items()})
    return CheckpointLayout(
        "referformer",
        backbone,
        {k: shapes[k] for k in names},
        optional=("*.relative_position_index",),
        dropped=(POSITION_IDS, "*total_ops", "*total_params"),
        aliases=aliases,
        alias_wins=False,
        title="ReferFormer",
    )


def detect_backbone(state: Mapping[str, torch.Tensor]) -> str:
    """The backbone whose keys and shapes `state` has (ReferFormer's released models differ only there)."""

    def shape(name: str):
        return tuple(state[BODY + name].shape) if BODY + name in state else None

    if shape("layer4.0.conv1.weight") is not None:
        return "resnet101" if shape("layer3.22.conv1.weight") is not None else "resnet50"
    embed = shape("patch_embed.proj.weight")
    if embed is None:
        raise CheckpointError(
            f"no ReferFormer backbone found ({BODY}* has neither a ResNet nor a Swin); "
            "pass the ReferFormer checkpoint of the Ref-Youtube-VOS model zoo"
        )
    if len(embed) == 4:  # image Swin: Conv2d patches
        return {96: "swin-t", 192: "swin-l"}.get(embed[0], "swin-t")
    if embed[0] == 128:
        return "video-swin-b"
    return "video-swin-s" if shape("layers.2.blocks.6.norm1.weight") is not None else "video-swin-t"


def layout_of(state: Mapping[str, torch.Tensor], origin: str = "checkpoint") -> CheckpointLayout:
    """The layout of the backbone `state` has."""
    return layout(detect_backbone(state))
