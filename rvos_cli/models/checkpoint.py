"""Reading and checking official checkpoints without ever unpickling arbitrary objects."""

from __future__ import annotations

import argparse
import os
import pickle
import zipfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from rvos_cli.errors import CheckpointError
from rvos_cli.models.layout import CheckpointLayout

# How torch.save files begin: a zip archive (the default since torch 1.6), or a pickle of protocol 2+
# (the legacy format). Anything else is some other kind of file.
ZIP_MAGIC, PICKLE_PROTO = b"PK\x03\x04", b"\x80"
# Wrappers the official trainers put around the state dict, in the order they are tried.
WRAPPER_KEYS = ("model_state_dict", "state_dict", "network", "model")
# The only non-tensor objects official trainer files carry beside the weights: ReferFormer's
# `args` (an argparse.Namespace) and SOC's numpy float score. Plain data, allowed by name. numpy 2
# moved `numpy.core` to `numpy._core`; a file pickled under either names the scalar constructor by
# its own version's path, so both names are allowed.
try:
    from numpy._core.multiarray import scalar as _SCALAR  # numpy 2
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import scalar as _SCALAR
TRAINER_GLOBALS = [
    argparse.Namespace,
    np.dtype,
    *{type(np.dtype(t)) for t in (np.float64, np.float32, np.int64)},
    (_SCALAR, "numpy.core.multiarray.scalar"),
    (_SCALAR, "numpy._core.multiarray.scalar"),
]


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a `.safetensors` file (memory-mapped) or a torch checkpoint with `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; pass an existing file or install weights with `rvos download`"
        )
    if path.suffix == ".safetensors" or is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise CheckpointError(f"{path} is not a readable safetensors file ({exc}); download it again") from None
    with open(path, "rb") as handle:
        head = handle.read(len(ZIP_MAGIC))
    if not head.startswith((ZIP_MAGIC, PICKLE_PROTO)):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint or .safetensors file; "
            "pass the model's checkpoint (e.g. model.pth, pytorch_model.pt)"
        )
    try:
        with torch.serialization.safe_globals(TRAINER_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        # torch wraps the reason (e.g. "unsupported GLOBAL posix.system") in paragraphs of advice.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next(
            (line for line in lines if "GLOBAL" in line), lines[-2] if len(lines) > 1 else "unsupported content"
        )
        reason = reason.split(". ")[0]
        raise CheckpointError(
            f"{path} holds objects other than tensors and was not unpickled for safety ({reason[:160]}); "
            "use the official checkpoint or convert it with `rvos download NAME --from FILE`"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt: {str(exc)[:160]}); download it again"
        ) from None
    return unwrap_state_dict(obj, str(path))


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether a file is safetensors by its content, whatever its name: an 8-byte little-endian header
    length, then that many bytes of JSON starting with `{`."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8


def unwrap_state_dict(obj, origin: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the name->tensor mapping inside an official checkpoint dict."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{origin} does not hold a state dict (found {type(obj).__name__})")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{origin} holds no tensors; it is not a model checkpoint")
    return tensors


def read_checkpoint(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """(name -> tensor, where it came from) of a checkpoint file or an in-memory state dict.

    A DataParallel `module.` prefix on every name is removed.
    """
    if isinstance(source, Mapping):
        state, origin = unwrap_state_dict(source, "state dict"), "state dict"
    else:
        state, origin = read_state_dict(source), str(source)
    if state and all(name.startswith("module.") for name in state):
        state = {name.removeprefix("module."): t for name, t in state.items()}
    return state, origin


def load_official(
    source: str | os.PathLike | Mapping[str, torch.Tensor],
    layout_of: Callable[[Mapping[str, torch.Tensor], str], CheckpointLayout],
    build: Callable[[CheckpointLayout], nn.Module],
    computed: Callable[[CheckpointLayout], Mapping[str, torch.Tensor]] = lambda layout: {},
    finish: Callable[[nn.Module], None] | None = None,
) -> nn.Module:
    """A network from an official checkpoint (or its rvos safetensors conversion, or a state dict):
    read without unpickling code, checked against the layout `layout_of(state, origin)` finds for
    it (one CheckpointError naming the file and the entries that differ), built on `meta` by `build(layout)`, and given
    the checkpoint's tensors without a copy, plus the integer buffers `computed(layout)` that a
    file may lack. `finish` fills buffers that are not part of any checkpoint."""
    state, origin = read_checkpoint(source)
    official = layout_of(state, origin)
    official.check(state, origin)
    model = build_from_state(lambda: build(official), official.kept(state), computed(official))
    if finish is not None:
        finish(model)
    return model


def buffers_named(layout: CheckpointLayout, suffix: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    """`value` for every entry of `layout` whose name ends in `suffix` (e.g. Swin index tables)."""
    return {name: value for name in layout.shapes if name.endswith(suffix)}


def checked_state(layout_of, source) -> tuple[dict[str, torch.Tensor], CheckpointLayout]:
    """The tensors of a checkpoint, checked against the layout `layout_of(state, origin)` finds for them."""
    state, origin = read_checkpoint(source)
    layout = layout_of(state, origin)
    layout.check(state, origin)
    return state, layout


def build_from_state(
    build: Callable[[], nn.Module], state: Mapping[str, torch.Tensor], computed: Mapping[str, torch.Tensor] = {}
) -> nn.Module:
    """`build()` on the meta device, then adopt `state` (float tensors as float32) without a copy.

    `computed` fills the integer buffers a file may lack (index tables, counters). The result is
    in eval mode with gradients off, on the CPU (or wherever the state's tensors are).
    """
    with torch.device("meta"):
        model = build()
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for name, value in computed.items():
        state.setdefault(name, value)
    # assign=True adopts the (possibly memory-mapped) tensors instead of copying them into new parameters.
    model.load_state_dict(state, strict=True, assign=True)
    return model.requires_grad_(False).eval()
