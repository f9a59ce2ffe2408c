"""Installing a registry entry into the cache: fetch or copy each file, convert, record.

A file lock per entry makes concurrent `rvos download` processes safe: one installs, the
others wait and then find the entry installed. The record (installed.json) is written last,
so an entry is either complete or not installed at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from rvos_cli import settings
from rvos_cli.atomic import atomic_file
from rvos_cli.errors import InputError, MissingWeightsError, RvosError, output_error
from rvos_cli.weights.cache import RECORD, entry_dir, installed_record, lock_path
from rvos_cli.weights.fetch import fetch, install_local, sha256_file
from rvos_cli.weights.registry import WeightsEntry, WeightsFile

CONVERTED = "model.safetensors"


def install(
    entry: WeightsEntry,
    cache_dir: str | os.PathLike | None = None,
    sources: list[Path] | None = None,
    offline: bool = False,
    keep_original: bool = False,
    show_progress: bool = False,
    note: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Install `entry`; return a summary {name, status, path, checkpoint, files}.

    `sources` are files fetched by hand (`--from`), matched to the entry's files by name
    (a lone unmatched file is taken as the checkpoint). `offline` (or RVOS_OFFLINE) forbids the network.
    """
    offline = offline or settings.current().offline
    name = entry.name
    local = _match_sources(entry, sources or [])
    record = installed_record(name, cache_dir)
    if record is not None and not local:  # complete (the record is written last): no lock, so a read-only cache works
        return _summary(name, cache_dir, record, "already installed")
    with _entry_lock(name, cache_dir, note):
        record = installed_record(name, cache_dir)
        if record is not None and not local:
            return _summary(name, cache_dir, record, "already installed")
        folder = entry_dir(name, cache_dir)
        # Checked once per file: with a sha256 that means hashing the whole file.
        reusable = {f.path for f in entry.files if f.path not in local and _reusable(folder, f, record)}
        if offline:
            _require_local(entry, local, reusable)
        record = _install_files(entry, folder, local, reusable, keep_original, show_progress)
        return _summary(name, cache_dir, record, "installed")


def _require_local(entry: WeightsEntry, local: dict[str, Path], reusable: set[str]) -> None:
    """Offline mode: every file must come from --from or an earlier, verified partial install."""
    name = entry.name
    missing = [f.path for f in entry.files if f.path not in local and f.path not in reusable]
    if missing:
        raise MissingWeightsError(
            f"weights '{name}' are not installed and offline mode forbids downloading {', '.join(missing)}; "
            f"run `rvos download {name}` with network access, or `rvos download {name} --from FILE`"
        )


def _install_files(
    entry: WeightsEntry,
    folder: Path,
    local: dict[str, Path],
    reusable: set[str],
    keep_original: bool,
    show_progress: bool,
) -> dict[str, Any]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(folder, exc, "write the weights cache") from None
    try:
        files, sources = {}, {}
        for file in entry.files:
            dest = folder / file.path
            if file.path in local:
                sources[file.path] = install_local(local[file.path], _as_given(file, local[file.path]), dest)
            elif file.path in reusable:
                sources[file.path] = "cache"
            else:
                sources[file.path] = fetch(entry.name, file, dest, show_progress)
            files[file.path] = file.role
        checkpoint = None
        if entry.checkpoint is not None and entry.format == "official":
            checkpoint = _convert(entry, folder, keep_original, files, local.get(entry.checkpoint.path))
    except BaseException:
        _remove_if_empty(folder)
        raise
    record = {
        "name": entry.name,
        "model": entry.model,
        "task": entry.task,
        "format": entry.format,
        "checkpoint": checkpoint,
        "files": files,
        "sources": sources,
        "defaults": entry.defaults,
        "entry": entry.body,
        "installed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_file(folder / RECORD) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _convert(
    entry: WeightsEntry, folder: Path, keep_original: bool, files: dict[str, str], given: Path | None = None
) -> str:
    """Make the checkpoint the model.safetensors a model loads; update `files`; return its name.

    A checkpoint is converted only when it is not that already: a safetensors file holding exactly
    the tensors the model loads is renamed (or kept, when it is named so), not rewritten. `given`: the
    user's file when the checkpoint came from `--from`; an error names it, not the cache copy.
    """
    from rvos_cli.weights.convert import convert_checkpoint, is_converted  # torch: only when converting

    original = entry.checkpoint.path
    source, target = folder / original, folder / CONVERTED
    try:
        if is_converted(source, entry.model):
            if source != target:
                os.replace(source, target)
                del files[original]
        else:
            convert_checkpoint(source, target, entry.model, metadata={"rvos_entry": entry.name, "source": original})
            if source != target and not keep_original:
                source.unlink()
                del files[original]
            elif source != target:
                files[original] = "original"
    except RvosError as exc:
        source.unlink(missing_ok=True)
        if given is None:
            raise
        message = str(exc).replace(os.fspath(source), f"--from {given}")
        if message == str(exc):
            message = f"--from {given}: {message}"
        raise type(exc)(message) from None
    except BaseException:
        # A file that is not this model's checkpoint will never become one: do not keep it.
        source.unlink(missing_ok=True)
        raise
    files[CONVERTED] = "checkpoint"
    return CONVERTED


def _as_given(file: WeightsFile, source: Path) -> WeightsFile:
    """The checks a file given with --from gets: a safetensors file given for an official checkpoint
    of another format (a .pth) cannot match that file's size and sha256; the layout check of the
    conversion verifies it instead (safetensors holds tensors only, nothing that could run)."""
    if file.role != "checkpoint" or file.path.endswith(".safetensors"):
        return file
    from rvos_cli.models.checkpoint import is_safetensors

    return dataclasses.replace(file, size=None, sha256=None) if is_safetensors(source) else file


def _reusable(folder: Path, file: WeightsFile, record: dict[str, Any] | None) -> bool:
    """A file already in place: part of the current installation (`record`), or verified by an unfinished one."""
    path = folder / file.path
    if not path.is_file() or (file.size is not None and path.stat().st_size != file.size):
        return False
    if file.sha256 is not None:
        return sha256_file(path) == file.sha256
    return record is not None and file.path in record["files"]


def _match_sources(entry: WeightsEntry, sources: list[Path]) -> dict[str, Path]:
    by_name = {Path(f.path).name: f.path for f in entry.files}
    matched: dict[str, Path] = {}
    unmatched = []
    for source in sources:
        source = Path(source).expanduser()
        if not source.exists():
            raise InputError(f"--from {source} does not exist; pass the file fetched by hand (or a folder of them)")
        if source.is_dir():
            matched.update({path: source / name for name, path in by_name.items() if (source / name).is_file()})
        elif source.name in by_name:
            matched[by_name[source.name]] = source
        else:
            unmatched.append(source)
    # A lone file under another name (e.g. ModelScope's pytorch_model.pt) is the entry's main file.
    main = [f.path for f in entry.files if f.role == "checkpoint" or len(entry.files) == 1]
    if len(unmatched) == 1 and len(main) == 1 and main[0] not in matched:
        matched[main[0]] = unmatched.pop()
    if unmatched:
        raise InputError(
            f"--from {unmatched[0]}: not a file of '{entry.name}' "
            f"(expected one of: {', '.join(f.path for f in entry.files)}, or a folder holding them)"
        )
    return matched


@contextlib.contextmanager
def _entry_lock(name: str, cache_dir, note: Callable[[str], None]) -> Iterator[None]:
    """Hold the entry's file lock, telling the user when another process has it."""
    path = lock_path(name, cache_dir)
    lock = FileLock(str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        note(f"waiting for another `rvos download {name}` to finish ...")
        lock.acquire()
    except OSError as exc:  # a cache folder that cannot be written: exit 5, not a traceback
        raise output_error(path.parent.parent, exc, "write the weights cache") from None
    try:
        yield
    finally:
        lock.release()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _summary(name: str, cache_dir, record: dict[str, Any], status: str) -> dict[str, Any]:
    folder = entry_dir(name, cache_dir)
    return {
        "name": name,
        "status": status,
        "path": str(folder),
        "checkpoint": str(folder / record["checkpoint"]) if record.get("checkpoint") else None,
        "files": sorted(record["files"]),
    }
