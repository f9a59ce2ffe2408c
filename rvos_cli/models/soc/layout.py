"""The official SOC checkpoint layout (transformers 4.24.0 wrote the released files)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import torch

from rvos_cli.errors import CheckpointError
from rvos_cli.models.common.roberta import legacy_text_layout
from rvos_cli.models.layout import CheckpointLayout

# The official backbone names (`--backbone`); the model zoo has checkpoints for these two.
BACKBONES = ("video-swin-t", "video-swin-b")
# Stage-1 width of each backbone, read from the patch embedding.
EMBED_DIMS = {96: "video-swin-t", 128: "video-swin-b"}
PATCH_EMBED = "backbone.0.body.patch_embed.proj.weight"
CLASS_EMBED = "class_embed.0.weight"

# The official `state_dict()` lists the top-level modules in this order.
PREFIXES = (
    "backbone.0.body.",
    "bbox_embed.",
    "class_embed.",
    "transformer.",
    "input_proj.",
    "text_encoder.",
    "query_embed.",
    "spatial_decoder.",
    "voc.",
    "vlf.",
    "lvf.",
    "txt_proj.",
    "controller.",
)
POSITION_IDS = "text_encoder.embeddings.position_ids"
# The box heads are registered twice (`transformer.decoder.bbox_embed = bbox_embed`); the port
# holds them once, at `bbox_embed`, and hands them to the decoder.
ALIAS, CANONICAL = "transformer.decoder.bbox_embed.", "bbox_embed."
ALIAS_BEFORE = "transformer.reference_points."
INDEX = "relative_position_index"
# Profiling counters (thop) the official loader tolerates; never kept.
PROFILER_COUNTERS = ("*total_ops", "*total_params")


@lru_cache(maxsize=8)
def layout(backbone: str = BACKBONES[0], num_classes: int = 1) -> CheckpointLayout:
    """Every tensor of an official SOC checkpoint, in the official order (built on `meta`: no memory).

    - `transformer.decoder.bbox_embed.*` aliases `bbox_embed.*`. SOC registers `bbox_embed` BEFORE
      `transformer`, so the official `load_state_dict` writes the alias last: its values win
      (`alias_wins`), the opposite of ReferFormer.
    - The Video-Swin index tables are computed by the model, so a file may lack them.
    - `position_ids` is a persistent buffer only in the transformers that wrote the files: read
      and dropped (as are thop's `total_ops`/`total_params` counters, which the original ignores).
    - num_classes: 1 for every released file (see `num_classes_of`).
    """
    from rvos_cli.models.soc.model import SOC

    if backbone not in BACKBONES:
        raise ValueError(f"SOC has no backbone {backbone!r}; it has {', '.join(BACKBONES)}")
    with torch.device("meta"):
        model = SOC(backbone, num_classes)
    shapes = legacy_text_layout({name: tuple(t.shape) for name, t in model.state_dict().items()}, "text_encoder.")
    shapes.update({ALIAS + k[len(CANONICAL) :]: s for k, s in shapes.items() if k.startswith(CANONICAL)})
    return CheckpointLayout(
        "soc",
        backbone,
        {k: shapes[k] for k in official_order(shapes)},
        optional=(f"*.{INDEX}",),
        dropped=(POSITION_IDS, *PROFILER_COUNTERS),
        aliases={k: CANONICAL + k[len(ALIAS) :] for k in shapes if k.startswith(ALIAS)},
        alias_wins=True,
    )


def official_order(names) -> list[str]:
    """The port's state-dict `names` (plus the alias and `position_ids`) in the official order.

    The port registers its top-level modules in the official order, so only two things move (the
    RoBERTa embeddings are already in the 4.24 order, `legacy_text_layout`): the modules group by
    `PREFIXES`, and the aliased box heads sit after the decoder layers, where the original decoder
    registers them.
    """
    groups: dict[str, list[str]] = {prefix: [] for prefix in PREFIXES}
    for name in names:
        groups[next(p for p in PREFIXES if name.startswith(p))].append(name)
    transformer = [k for k in groups["transformer."] if not k.startswith(ALIAS)]
    at = next(i for i, k in enumerate(transformer) if k.startswith(ALIAS_BEFORE))
    transformer[at:at] = [k for k in groups["transformer."] if k.startswith(ALIAS)]
    groups["transformer."] = transformer
    return [name for group in groups.values() for name in group]


def detect_backbone(state: Mapping[str, torch.Tensor]) -> str:
    """The backbone whose patch embedding a state dict has (raises CheckpointError if none)."""
    weight = state.get(PATCH_EMBED)
    backbone = EMBED_DIMS.get(int(weight.shape[0])) if weight is not None and weight.dim() == 5 else None
    if backbone is None:
        found = "missing" if weight is None else f"of shape {tuple(weight.shape)}"
        raise CheckpointError(
            f"not a SOC checkpoint: {PATCH_EMBED} is {found} "
            f"(expected [96 or 128, 3, 1, 4, 4] for {' or '.join(BACKBONES)})"
        )
    return backbone


def layout_of(state: Mapping[str, torch.Tensor], backbone: str | None = None) -> CheckpointLayout:
    """The layout a state dict claims: its backbone (unless given) and its number of classes."""
    return layout(backbone or detect_backbone(state), num_classes_of(state))


def num_classes_of(state: Mapping[str, torch.Tensor]) -> int:
    """Classes of the checkpoint's `class_embed` (1 for every released file; maybe 65 for one)."""
    weight = state.get(CLASS_EMBED)
    return int(weight.shape[0]) if weight is not None and weight.dim() == 2 else 1
