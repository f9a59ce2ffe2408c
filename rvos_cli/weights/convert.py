"""Official checkpoints -> `model.safetensors`: loaded without unpickling code, unwrapped, checked.

`torch.load(weights_only=True)` refuses any pickle that would build arbitrary objects, so a
malicious file is rejected before anything in it runs. The tensors are then checked against
the model's official layout (`rvos_cli.models.registry`) and written as safetensors, which later
loads memory-mapped (no second copy in RAM, no pickle at all).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rvos_cli.atomic import atomic_file
from rvos_cli.models.checkpoint import checked_state
from rvos_cli.models.registry import model_spec


def convert_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, model: str, metadata: dict[str, str] | None = None
) -> int:
    """Write the checked tensors of checkpoint `src` of `model` to safetensors file `dst`; return how many.

    Only what the model loads is written: legacy buffers and aliased copies are left out, and
    an alias is resolved to the value the original's loader keeps. Raises CheckpointError (exit 2)
    for a file that is unsafe, unreadable or of another model. `dst` may be `src`.
    """
    state, layout = checked_state(model_spec(model).layout_for, src)
    kept = layout.kept(state)
    with atomic_file(Path(dst)) as tmp:
        _save(kept, tmp, {"rvos_variant": layout.variant, **(metadata or {})})
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


def is_converted(path: str | os.PathLike, model: str) -> bool:
    """Whether `path` is a safetensors file holding exactly the tensors `model` loads (checked against its
    layout), so that converting it would write the same tensors again."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return False
    state, layout = checked_state(model_spec(model).layout_for, path)
    return set(state) == set(layout.kept(state))
