"""The weights registry: named weight sets, their files, checksums and mirrors (weights.yaml).

The built-in registry ships inside the package. `RVOS_REGISTRY` and then `--registry FILE`
add entries or replace built-in ones by name (same schema), which is also how the tests
point downloads at a local server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from rvos_cli import settings
from rvos_cli.errors import InputError

BUILTIN_REGISTRY = Path(__file__).resolve().parents[1] / "weights.yaml"

TASKS = ("refer", "propagate")
FORMATS = ("official", "hf")
# checkpoint: an official checkpoint (one file); weights: a safetensors shard of a Hugging Face model
# folder (several for a sharded model, with its index as `config`); config, tokenizer, processor: the
# files beside them; data: anything else.
ROLES = ("checkpoint", "weights", "config", "tokenizer", "processor", "data")
URL_SCHEMES = ("https://", "http://", "file://", "gdrive://", "modelscope://", "hf://")
NO_MODEL = "none"  # entries of files alone (a tokenizer another entry names)

ENTRY_FIELDS = {
    "model",
    "task",
    "format",
    "repo",
    "revision",
    "description",
    "files",
    "defaults",
    "licence",
    "accuracy",
    "tokenizer",
    "gated",
}
FILE_FIELDS = {"path", "role", "size", "approx_size", "sha256", "urls"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class WeightsFile:
    """One file of an entry: its name in the entry's folder, what it is, and where to get it. size: its
    exact size in bytes (checked on download), else None; approx_size: a rounded size for listings where
    the exact one is not known."""

    path: str
    role: str
    size: int | None
    sha256: str | None
    urls: tuple[str, ...]
    approx_size: int | None = None


@dataclass(frozen=True)
class WeightsEntry:
    """A named set of weights: the model they are for, their files by role, and the options they imply.

    format: official (one checkpoint file, converted to safetensors on install) or hf (a Hugging Face
    model folder: config, safetensors shards, processor files, loaded as they are). repo / revision:
    the Hugging Face repository and the commit its files are pinned to (hf entries, and the default
    source of their files). gated: the repository asks users to accept its licence before downloading.
    defaults: option values the weights were evaluated with (e.g. RDE-VOS `mem_every`).
    tokenizer: the entry whose tokenizer files a checkpoint-only entry uses (e.g. roberta-base).
    body: the entry as written, so that an installed entry can be read back from its record.
    """

    name: str
    model: str
    task: str | None
    description: str
    files: tuple[WeightsFile, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    licence: str | None = None
    accuracy: str | None = None
    tokenizer: str | None = None
    format: str = "official"
    repo: str | None = None
    revision: str | None = None
    gated: bool = False
    body: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def checkpoint(self) -> WeightsFile | None:
        return next((f for f in self.files if f.role == "checkpoint"), None)

    @property
    def size(self) -> tuple[int | None, bool]:
        """(bytes of all its files, whether that is exact): a file of unknown size counts its
        `approx_size`; None when some file has neither."""
        sizes = [f.size if f.size is not None else f.approx_size for f in self.files]
        if None in sizes:
            return None, False
        return sum(sizes), all(f.size is not None for f in self.files)

    @property
    def has_tokenizer(self) -> bool:
        return any(f.role == "tokenizer" for f in self.files)


def load_registry(registry: str | os.PathLike | None = None) -> dict[str, WeightsEntry]:
    """Built-in entries, then those of `$RVOS_REGISTRY`, then those of `registry`; later names win."""
    entries = _read(BUILTIN_REGISTRY)
    for extra in (settings.current().registry, registry):
        if extra:
            entries.update(_read(Path(extra)))
    return entries


def registry_entry(
    name: str, registry: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> WeightsEntry:
    """The entry called `name`: from the registries, else from the record of an installed entry (one
    installed with another `--registry` file); InputError naming the known entries when there is none."""
    entries = load_registry(registry)
    if name in entries:
        return entries[name]
    from rvos_cli.weights.cache import installed_record

    record = installed_record(name, cache_dir)
    if record is not None and isinstance(record.get("entry"), dict):
        return entry_from_body(name, record["entry"], f"the installed record of '{name}'")
    raise InputError(f"unknown weights '{name}'; known names: {', '.join(sorted(entries))} (see `rvos models`)")


def entry_from_body(name: str, body: Any, origin: str | os.PathLike) -> WeightsEntry:
    """An entry from its mapping as weights.yaml writes it, checked."""
    return _entry(name, body, Path(origin))


def _read(path: Path) -> dict[str, WeightsEntry]:
    if not path.is_file():
        raise InputError(f"registry file {path} does not exist; fix --registry or RVOS_REGISTRY")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"registry file {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"registry file {path} must map entry names to entries (see docs/models.md)")
    return {str(name): _entry(str(name), body, path) for name, body in raw.items()}


def _entry(name: str, body: Any, origin: Path) -> WeightsEntry:
    where = f"registry {origin}, entry '{name}'"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise InputError(f"{where}: names may use letters, digits, '.', '_' and '-' only")
    if not isinstance(body, dict):
        raise InputError(f"{where}: must be a mapping with model, files, ...")
    _no_unknown(body, ENTRY_FIELDS, where)
    from rvos_cli.models.registry import MODELS

    model = body.get("model")
    if model not in (*MODELS, NO_MODEL):
        raise InputError(f"{where}: model must be one of {', '.join((*MODELS, NO_MODEL))} (got {model!r})")
    task = body.get("task")
    if task is not None and task not in TASKS:
        raise InputError(f"{where}: task must be one of {', '.join(TASKS)} (got {task!r})")
    if model != NO_MODEL and task is None:
        raise InputError(f"{where}: task is required for model {model}")
    format = body.get("format", "official")
    if format not in FORMATS:
        raise InputError(f"{where}: format must be one of {', '.join(FORMATS)} (got {format!r})")
    repo, revision = body.get("repo"), body.get("revision")
    if format == "hf" and not (isinstance(repo, str) and REPO.match(repo)):
        raise InputError(f"{where}: an hf entry needs repo: OWNER/NAME (its Hugging Face repository)")
    if revision is not None and not isinstance(revision, str):
        raise InputError(f"{where}: revision must be a commit hash or a branch name")
    default_urls = [f"hf://{repo}@{revision or 'main'}"] if isinstance(repo, str) and REPO.match(repo) else None
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise InputError(f"{where}: files must be a non-empty list")
    files = [_file(item, f"{where}, files[{i}]", default_urls) for i, item in enumerate(files)]
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise InputError(f"{where}: two files share a path")
    checkpoints = [f for f in files if f.role == "checkpoint"]
    if model != NO_MODEL and format == "official" and len(checkpoints) != 1:
        raise InputError(f"{where}: model {model} needs exactly one file with role checkpoint")
    if format == "hf" and not any(f.role == "weights" for f in files):
        raise InputError(f"{where}: an hf entry needs its safetensors files, with role weights")
    defaults = body.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise InputError(f"{where}: defaults must be a mapping of option -> value")
    tokenizer = body.get("tokenizer")
    if tokenizer is not None and not isinstance(tokenizer, str):
        raise InputError(f"{where}: tokenizer must name the entry holding the tokenizer files")
    return WeightsEntry(
        name=name,
        model=model,
        task=task,
        description=str(body.get("description") or ""),
        files=tuple(files),
        defaults=defaults,
        licence=None if body.get("licence") is None else str(body["licence"]),
        accuracy=None if body.get("accuracy") is None else str(body["accuracy"]),
        tokenizer=tokenizer,
        format=format,
        repo=repo,
        revision=revision,
        gated=bool(body.get("gated", False)),
        body=dict(body),
    )


def _file(item: Any, where: str, default_urls: list[str] | None = None) -> WeightsFile:
    if not isinstance(item, dict):
        raise InputError(f"{where}: must be a mapping with path, role, size, sha256, urls")
    _no_unknown(item, FILE_FIELDS, where)
    path = item.get("path")
    if not isinstance(path, str) or not path or PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
        raise InputError(f"{where}: path must be a relative file name inside the entry's folder (got {path!r})")
    role = item.get("role", "data")
    if role not in ROLES:
        raise InputError(f"{where}: role must be one of {', '.join(ROLES)} (got {role!r})")
    size, approx = item.get("size"), item.get("approx_size")
    for key, value in (("size", size), ("approx_size", approx)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InputError(f"{where}: {key} must be a number of bytes or null (got {value!r})")
    sha256 = item.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and SHA256.match(sha256.lower())):
        raise InputError(f"{where}: sha256 must be 64 hex characters or null")
    urls = item.get("urls", default_urls)
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise InputError(f"{where}: urls must be a non-empty list of URLs")
    for url in urls:
        if not url.startswith(URL_SCHEMES):
            raise InputError(f"{where}: unsupported URL {url!r}; use one of {', '.join(URL_SCHEMES)}")
    # hf://OWNER/NAME@REVISION names a repository: the file is `path` in it.
    urls = [f"{url}/{path}" if url.startswith("hf://") and "/" not in url.split("@", 1)[-1] else url for url in urls]
    return WeightsFile(path, role, size, sha256.lower() if sha256 else None, tuple(urls), approx)


def _no_unknown(body: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, body)) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
