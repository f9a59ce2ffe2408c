"""Official checkpoints -> `model.safetensors`: loaded without unpickling code, unwrapped, checked.

`torch.load(weights_only=True)` refuses any pickle that would build arbitrary objects, so a
malicious file is rejected before anything in it runs. The tensors are then checked against
the names and shapes the model expects and written as safetensors, which later loads
memory-mapped (no second copy in RAM, no pickle at all).
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from pathlib import Path
from typing import Mapping

import torch

from rvos_cli.atomic import atomic_file
from rvos_cli.models.checkpoint import check_state_dict, read_state_dict

# model -> (module with expected_state_dict_shapes(), name patterns that may be absent or extra).
# relative_position_index / position_ids: integer buffers the model computes itself; position_ids is
# persistent in the transformers 4.11 that wrote MTTR's files but not in current ones, so it is dropped.
# num_batches_tracked: BatchNorm counters, unused in eval.
LAYOUTS = {
    "mttr": ("rvos_cli.models.mttr.checkpoint", ("*.relative_position_index", "transformer.text_encoder.embeddings.position_ids")),
    "rdevos": ("rvos_cli.models.rdevos.checkpoint", ("*.num_batches_tracked",)),
}
DROPPED = ("transformer.text_encoder.embeddings.position_ids",)


def expected_layout(model: str) -> tuple[dict[str, tuple[int, ...]], tuple[str, ...]]:
    """(name -> shape in the official layout, optional name patterns) for `model` ('mttr' | 'rdevos')."""
    module, optional = LAYOUTS[model]
    return dict(importlib.import_module(module).expected_state_dict_shapes()), optional


def convert_checkpoint(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    expected: Mapping[str, tuple[int, ...]],
    optional: tuple[str, ...] = (),
    model: str = "model",
    metadata: dict[str, str] | None = None,
) -> int:
    """Write the checked tensors of checkpoint `src` to safetensors file `dst`; return how many.

    `optional` holds fnmatch patterns of names that may be missing or extra; extra ones, and the
    buffers in DROPPED, are not written. A DataParallel `module.` prefix is removed.
    Raises CheckpointError (exit 2) for a file that is unsafe, unreadable or of another model.
    """
    state = read_state_dict(src)
    if all(name.startswith("module.") for name in state):
        state = {name.removeprefix("module."): t for name, t in state.items()}
    names = set(state) | set(expected)
    optional_names = tuple(k for k in names if any(fnmatch.fnmatchcase(k, p) for p in optional))
    check_state_dict(state, expected, model, optional_names, origin=str(src))
    kept = {k: state[k] for k in expected if k in state and k not in DROPPED}
    with atomic_file(Path(dst)) as tmp:
        _save(kept, tmp, metadata or {})
    return len(kept)


def _save(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    seen: set[int] = set()
    own = {}
    for name, tensor in state.items():
        tensor = tensor.detach().contiguous()
        # safetensors refuses tensors that share memory; official files may alias buffers.
        storage = tensor.untyped_storage().data_ptr()
        if tensor.numel() and storage in seen:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        own[name] = tensor
    save_file(own, str(path), metadata={"format": "pt", **metadata})
