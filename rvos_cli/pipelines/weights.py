"""`rvos download` and `rvos models`: the weights registry and cache, as commands."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rvos_cli.errors import InputError
from rvos_cli.weights import cache_root, describe, install, load_registry, registry_entry


@dataclass
class DownloadSummary:
    results: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.results}

    def human(self) -> str:
        return "\n".join(f"{r['name']}: {r['status']} in {r['path']}" for r in self.results)


@dataclass
class ModelsSummary:
    cache: Path
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"cache": os.fspath(self.cache), "models": self.rows}

    def human(self):
        from rvos_cli.weights.display import models_table

        return models_table(self.rows)


def run_download(
    names: list[str],
    all_entries: bool = False,
    sources: list[Path] | None = None,
    offline: bool = False,
    keep_original: bool = False,
    cache_dir: Path | None = None,
    registry: Path | None = None,
    reporter=None,
) -> DownloadSummary:
    """Install the named entries (or all), each followed by the entry holding its tokenizer files."""
    if all_entries == bool(names):
        raise InputError("name the weights to install (e.g. `rvos download mttr-ytvos`) or pass --all, not both")
    if sources and (all_entries or len(names) != 1):
        raise InputError(
            "--from installs the files of exactly one NAME; run one `rvos download NAME --from FILE` per entry"
        )
    entries = list(load_registry(registry).values()) if all_entries else [registry_entry(n, registry) for n in names]
    for entry in list(entries):
        if entry.tokenizer and entry.tokenizer not in {e.name for e in entries}:
            entries.append(registry_entry(entry.tokenizer, registry))
    interactive = reporter is not None and reporter.interactive
    note = reporter.note if reporter is not None else (lambda message: None)
    results = [
        install(
            entry,
            cache_dir,
            sources if entry.name in names[:1] else None,
            offline,
            keep_original,
            show_progress=interactive,
            note=note,
        )
        for entry in entries
    ]
    return DownloadSummary(results)


def run_models(cache_dir: Path | None = None, registry: Path | None = None) -> ModelsSummary:
    rows = [describe(entry, cache_dir) for entry in load_registry(registry).values()]
    return ModelsSummary(cache_root(cache_dir), rows)
