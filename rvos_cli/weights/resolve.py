"""One answer to "which weights does this run use": a name, a file given by hand, or the default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.weights.cache import installed_record, locate_checkpoint, locate_entry_dir
from rvos_cli.weights.registry import WeightsEntry, load_registry, registry_entry

TOKENIZER_FILES = ("vocab.json", "merges.txt")


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights of one run.

    source: the file to load (or, for random weights, the state dict itself). entry: the registry
    entry they come from (None for a file given with --checkpoint alone). defaults: the entry's option
    values (e.g. RDE-VOS `mem_every`).
    tokenizer: the folder with the tokenizer files, for text models (None otherwise).
    """

    model: str
    source: Path | Mapping[str, Any]
    entry: WeightsEntry | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    tokenizer: Path | None = None

    @property
    def name(self) -> str:
        if self.entry is not None:
            return self.entry.name
        return os.fspath(self.source) if isinstance(self.source, Path) else "random (official layout)"


def installed_weights(model: str, cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of the registry's installed weights for `model`, in registry order."""
    return [
        name
        for name, entry in load_registry().items()
        if entry.model == model and installed_record(name, cache_dir) is not None
    ]


def default_weights(model: str, cache_dir: str | os.PathLike | None = None) -> str:
    """The first installed entry of `model`, else its first entry (whose absence names the download)."""
    installed = installed_weights(model, cache_dir)
    if installed:
        return installed[0]
    names = [name for name, entry in load_registry().items() if entry.model == model]
    if not names:
        raise InputError(f"the weights registry has no entry for model {model}; add one with --registry")
    return names[0]


def model_entry(name: str, model: str) -> WeightsEntry:
    """Registry entry `name`, which must hold weights of `model`."""
    entry = registry_entry(name)
    if entry.model != model:
        same = [n for n, e in load_registry().items() if e.model == model]
        raise InputError(
            f"weights '{name}' are for model {entry.model}, not {model}; "
            f"use one of: {', '.join(same) or 'none known'} (see `rvos models`)"
        )
    return entry


def resolve_weights(
    model: str,
    weights: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    tokenizer: str | os.PathLike | None = None,
    tokenizer_entry: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ResolvedWeights:
    """The checkpoint, defaults and tokenizer folder for a run of `model`.

    `checkpoint` (a file fetched by hand) wins over the entry's file; `weights` names the entry
    (its defaults and tokenizer still apply with `checkpoint`); without either, the first installed
    entry of the model. `tokenizer_entry` names the registry entry whose tokenizer files a text
    model falls back to (None for models without text). Raises MissingWeightsError (exit 3) with
    the `rvos download` command when something is not installed, InputError for a bad name or path.
    """
    entry = None
    if weights is not None:
        entry = model_entry(weights, model)
    elif checkpoint is None:
        entry = model_entry(default_weights(model, cache_dir), model)
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise InputError(f"--checkpoint {path} does not exist (or is not a file); pass the downloaded checkpoint")
    else:
        path = locate_checkpoint(entry.name, cache_dir)
    folder = None
    if tokenizer_entry is not None:
        folder = tokenizer_folder(entry, tokenizer, tokenizer_entry, cache_dir)
    return ResolvedWeights(model, path, entry, dict(entry.defaults) if entry else {}, folder)


def tokenizer_folder(
    entry: WeightsEntry | None, given: str | os.PathLike | None, fallback: str, cache_dir: str | os.PathLike | None
) -> Path:
    """--tokenizer, else the entry's own tokenizer files, else those of the entry it names, else `fallback`'s."""
    if given is not None:
        folder = Path(given)
        missing = [name for name in TOKENIZER_FILES if not (folder / name).is_file()]
        if missing:
            raise InputError(
                f"--tokenizer {folder} lacks {', '.join(missing)}; pass a folder with vocab.json and "
                f"merges.txt (roberta-base), or run `rvos download {fallback}`"
            )
        return folder
    if entry is not None and entry.has_tokenizer:
        return locate_entry_dir(entry.name, cache_dir)
    name = (entry.tokenizer if entry is not None else None) or fallback
    try:
        return locate_entry_dir(name, cache_dir)
    except MissingWeightsError:
        raise MissingWeightsError(
            f"the text encoder needs the tokenizer files of '{name}': run `rvos download {name}`, "
            "or pass --tokenizer DIR (a folder with vocab.json and merges.txt)"
        ) from None
