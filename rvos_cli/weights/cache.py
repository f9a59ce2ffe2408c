"""The local weights cache: one folder per registry entry, complete once its record is written.

Layout under the cache root:
    <name>/                  the entry's files (model.safetensors, tokenizer files, ...)
    <name>/installed.json    written last; an entry without it is not installed
    .locks/<name>.lock       serialises concurrent `rvos download` processes
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rvos_cli import settings
from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.weights.registry import WeightsEntry

RECORD = "installed.json"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """`cache_dir`, else `$RVOS_HOME`, else `$XDG_CACHE_HOME/rvos`, else `~/.cache/rvos`."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    return settings.current().home


def entry_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / name


def lock_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / ".locks" / f"{name}.lock"


def installed_record(name: str, cache_dir: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The record of an installed entry whose files are all present, else None."""
    folder = entry_dir(name, cache_dir)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not all((folder / path).is_file() for path in record.get("files", {})):
        return None
    return record


def locate_entry_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The installed folder of entry `name`; MissingWeightsError with the download command if absent."""
    if installed_record(name, cache_dir) is None:
        raise _missing(name, cache_dir)
    return entry_dir(name, cache_dir)


def locate_checkpoint(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The installed checkpoint of entry `name` (model.safetensors, or the original when kept)."""
    record = installed_record(name, cache_dir)
    if record is None:
        raise _missing(name, cache_dir)
    if not record.get("checkpoint"):
        raise InputError(f"weights '{name}' hold no model checkpoint (only {', '.join(record['files'])})")
    return entry_dir(name, cache_dir) / record["checkpoint"]


def _missing(name: str, cache_dir: str | os.PathLike | None) -> MissingWeightsError:
    command = f"rvos download {name}" + (f" --cache-dir {cache_dir}" if cache_dir else "")
    return MissingWeightsError(
        f"weights '{name}' are not installed in {cache_root(cache_dir)}; run `{command}` "
        f"(or `{command} --from FILE` with a file fetched by hand)"
    )


def describe(entry: WeightsEntry, cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """One row of `rvos models`: registry facts plus whether and where the entry is installed."""
    size, exact = entry.size
    record = installed_record(entry.name, cache_dir)
    folder = entry_dir(entry.name, cache_dir)
    return {
        "name": entry.name,
        "model": entry.model,
        "task": entry.task,
        "description": entry.description,
        "size": size,
        "size_exact": exact,
        "installed": record is not None,
        "installed_size": sum((folder / p).stat().st_size for p in record["files"]) if record else None,
        "path": str(folder) if record else None,
        "checkpoint": str(folder / record["checkpoint"]) if record and record.get("checkpoint") else None,
        "defaults": entry.defaults,
        "accuracy": entry.accuracy,
        "licence": entry.licence,
    }
