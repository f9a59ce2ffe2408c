"""Loading MTTR from the official checkpoints (or the rvos safetensors conversion of them)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Mapping

import torch

from rvos_cli.models.checkpoint import check_state_dict, read_state_dict, unwrap_state_dict
from rvos_cli.models.mttr.mttr import MTTR
from rvos_cli.models.mttr.swin import relative_position_index
from rvos_cli.models.mttr.text import materialize_text_buffers

POSITION_IDS = "transformer.text_encoder.embeddings.position_ids"
EMBEDDINGS = "transformer.text_encoder.embeddings."
# transformers 4.11.3 (which wrote the official files) lists the RoBERTa embeddings in this order.
EMBEDDINGS_ORDER = ("position_ids", "word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm")


def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in an official MTTR checkpoint, in the official order.

    Built on the `meta` device, so it costs no memory and no initialisation.
    """
    return dict(_official_shapes())


@lru_cache(maxsize=1)
def _official_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = MTTR()
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    shapes[POSITION_IDS] = (1, model.transformer.text_encoder.config.max_position_embeddings)
    embedding_keys = sorted(
        (k for k in shapes if k.startswith(EMBEDDINGS)),
        key=lambda k: EMBEDDINGS_ORDER.index(k[len(EMBEDDINGS):].split(".")[0]),
    )
    first = next(i for i, k in enumerate(shapes) if k.startswith(EMBEDDINGS))
    rest = [k for k in shapes if not k.startswith(EMBEDDINGS)]
    order = rest[:first] + embedding_keys + rest[first:]
    return {k: shapes[k] for k in order}


def load_mttr(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> MTTR:
    """MTTR in eval mode, on the CPU, in float32, from a checkpoint file or an official-layout state dict.

    Accepts the official `.pth.tar` (with its `model_state_dict` wrapper), ModelScope's
    `pytorch_model.pt`, an rvos `.safetensors` conversion, or the state dict itself. A file that
    is not an MTTR checkpoint raises one CheckpointError naming the keys that differ.
    """
    if isinstance(source, Mapping):
        state, origin = unwrap_state_dict(source, "state dict"), "state dict"
    else:
        state, origin = read_state_dict(source), str(source)
    expected = _official_shapes()
    # Integer buffers are fixed functions of the architecture, so a state dict may omit them.
    index_buffers = [k for k in expected if k.endswith("relative_position_index")]
    check_state_dict(state, expected, "MTTR", optional=(*index_buffers, POSITION_IDS), origin=origin)

    state = {k: v for k, v in state.items() if k != POSITION_IDS}  # a non-persistent buffer in current transformers
    index = relative_position_index()
    for name in index_buffers:
        state.setdefault(name, index)
    with torch.device("meta"):
        model = MTTR()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True, assign=True)
    materialize_text_buffers(model.transformer.text_encoder)
    return model.requires_grad_(False).eval()
