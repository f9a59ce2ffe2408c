"""The layout of an official checkpoint: tensor names and shapes, and which entries may differ.

Each model package describes its checkpoints with a `CheckpointLayout` (in its `layout.py`); the
loaders, the safetensors converter, the random weights of `rvos bench` and the tests all read
that one description, through `rvos_cli.models.registry`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Mapping

import torch

from rvos_cli.errors import CheckpointError


@dataclass(frozen=True)
class CheckpointLayout:
    """Every tensor of one model variant's official checkpoint, in the official order.

    shapes: name -> shape, integer buffers included. optional: fnmatch patterns of entries a file
    may lack (integer buffers the model computes itself, counters unused in eval). dropped:
    patterns of entries a file may carry that are never kept (legacy buffers such as RoBERTa's
    `position_ids`). aliases: alias -> canonical name, for a module the original registers twice
    (both names are saved, the port holds it once under the canonical name). A file may lack
    the alias; where it has both, `alias_wins` says whose value the original's `load_state_dict`
    leaves in the model (it visits the modules in registration order and the last copy wins).
    title: the model's name in messages.
    """

    model: str
    variant: str
    shapes: Mapping[str, tuple[int, ...]]
    optional: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    alias_wins: bool = False
    title: str = ""

    def is_optional(self, name: str) -> bool:
        return name in self.aliases or any(fnmatch.fnmatchcase(name, p) for p in (*self.optional, *self.dropped))

    def is_dropped(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.dropped)

    def check(self, state: Mapping[str, torch.Tensor], origin: str = "checkpoint") -> None:
        """One CheckpointError naming the first few missing, unexpected or mis-shaped entries."""
        missing = [k for k in self.shapes if k not in state and not self.is_optional(k)]
        unexpected = [k for k in state if k not in self.shapes and not self.is_optional(k)]
        wrong = [
            f"{k} {tuple(state[k].shape)} != {tuple(s)}"
            for k, s in self.shapes.items()
            if k in state and tuple(state[k].shape) != tuple(s)
        ]
        if not (missing or unexpected or wrong):
            return
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                shown = ", ".join(items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
                parts.append(f"{len(items)} {label}: {shown}")
        name = (self.title or self.model) + (f" ({self.variant})" if self.variant else "")
        raise CheckpointError(f"{origin} is not a {name} checkpoint: " + "; ".join(parts))

    def kept(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The entries of a checked `state` a model loads: official order, dropped ones left out,
        each alias resolved to the value the official loader keeps."""
        state = dict(state)
        for alias, canonical in self.aliases.items():
            if alias in state and (self.alias_wins or canonical not in state):
                state[canonical] = state[alias]
        return {k: state[k] for k in self.shapes if k in state and k not in self.aliases and not self.is_dropped(k)}

    def floating(self) -> dict[str, tuple[int, ...]]:
        """The entries random weights are drawn for: all but the optional and dropped ones."""
        return {k: tuple(s) for k, s in self.shapes.items() if not self.is_optional(k)}
