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

    source: the file (official checkpoints) or folder (Hugging Face models) to load, or, for random
    weights, what the model's loader takes instead (a state dict, a config). entry: the registry entry
    they come from (None for a --checkpoint alone). defaults: the entry's option values (e.g. RDE-VOS
    `mem_every`). tokenizer: the folder with the tokenizer files, for text models (None otherwise).
    """

    model: str
    source: Path | Mapping[str, Any] | Any
    entry: WeightsEntry | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    tokenizer: Path | None = None

    @property
    def name(self) -> str:
        if self.entry is not None:
            return self.entry.name
        return os.fspath(self.source) if isinstance(self.source, Path) else "random"


def installed_weights(
    model: str, cache_dir: str | os.PathLike | None = None, registry: str | os.PathLike | None = None
) -> list[str]:
    """Names of the registry's installed weights for `model`, in registry order."""
    return [
        name
        for name, entry in load_registry(registry).items()
        if entry.model == model and installed_record(name, cache_dir) is not None
    ]


def default_weights(
    model: str, cache_dir: str | os.PathLike | None = None, registry: str | os.PathLike | None = None
) -> str:
    """The first installed entry of `model`, else its first entry (whose absence names the download)."""
    installed = installed_weights(model, cache_dir, registry)
    if installed:
        return installed[0]
    names = [name for name, entry in load_registry(registry).items() if entry.model == model]
    if not names:
        raise MissingWeightsError(
            f"the weights registry has no entry for model {model}; pass --checkpoint, or add an entry with --registry"
        )
    return names[0]


def model_entry(
    name: str, model: str, cache_dir: str | os.PathLike | None = None, registry: str | os.PathLike | None = None
) -> WeightsEntry:
    """Registry entry `name`, which must hold weights of `model`."""
    entry = registry_entry(name, registry, cache_dir)
    if entry.model != model:
        same = [n for n, e in load_registry(registry).items() if e.model == model]
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
    registry: str | os.PathLike | None = None,
) -> ResolvedWeights:
    """The checkpoint (or model folder), defaults and tokenizer folder for a run of `model`.

    `checkpoint` (a file fetched by hand, or a Hugging Face model folder for such models) wins over the
    entry's files; `weights` names the entry (its defaults and tokenizer still apply with `checkpoint`);
    without either, the first installed entry of the model. `tokenizer_entry` names the registry entry
    whose tokenizer files a text model falls back to (None for models without text). Raises
    MissingWeightsError (exit 3) with the `rvos download` command when something is not installed,
    InputError for a bad name or path.
    """
    from rvos_cli.models.registry import model_spec

    spec = model_spec(model)
    entry = None
    if weights is not None:
        entry = model_entry(weights, model, cache_dir, registry)
    elif checkpoint is None:
        entry = model_entry(default_weights(model, cache_dir, registry), model, cache_dir, registry)
    if checkpoint is not None:
        path = checked_checkpoint(Path(checkpoint), spec)
    else:
        try:
            path = (locate_entry_dir if spec.weights == "hf" else locate_checkpoint)(entry.name, cache_dir)
        except MissingWeightsError as missing:
            others = [n for n, e in load_registry(registry).items() if e.model == model and n != entry.name]
            if weights is not None or not others:
                raise
            raise MissingWeightsError(f"{missing}; other weights of {model}: {', '.join(others)}") from None
    folder = None
    if tokenizer_entry is not None:
        folder = tokenizer_folder(entry, tokenizer, tokenizer_entry, cache_dir)
    return ResolvedWeights(model, path, entry, dict(entry.defaults) if entry else {}, folder)


CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".tar", ".ckpt", ".bin")


def checked_checkpoint(path: Path, spec) -> Path:
    """`--checkpoint` as the model's weights format wants it: for an official checkpoint a file, or a
    folder holding one (an installed entry's model.safetensors, or a lone checkpoint file); for a
    Hugging Face model a folder with config.json."""
    if spec.weights == "hf":
        if not (path / "config.json").is_file():
            what = "a file" if path.is_file() else "a folder without config.json" if path.is_dir() else "missing"
            raise InputError(
                f"--checkpoint {path} is {what}; {spec.title} takes a Hugging Face model folder "
                "(config.json and its .safetensors files)"
            )
        return path
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(CHECKPOINT_SUFFIXES))
        converted = path / "model.safetensors"
        if converted.is_file():
            return converted
        if len(found) == 1:
            return found[0]
        raise InputError(
            f"--checkpoint {path} is a folder with {len(found) or 'no'} checkpoint files; "
            f"pass the {spec.title} checkpoint file itself"
        )
    if not path.is_file():
        raise InputError(
            f"--checkpoint {path} does not exist (or is not a file); pass the downloaded {spec.title} checkpoint file"
        )
    return path


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
