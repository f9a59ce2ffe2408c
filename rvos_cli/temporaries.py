"""Temporary names of outputs, whose owner can be told, and what a killed run leaves behind.

A temporary entry is named `.<name>.<pid>-<tag>-<random>.part<suffix>` (`.part` folders; `.old`
for a replaced folder on its way out; `.part.frames` for a writer's scratch folder), `<name>`
shortened so that the whole stays within the file system's name limit (NAME_MAX). `<pid>-<tag>` is
the owner: its process id and a tag of its host and PID namespace (4 hex digits) and of its boot and
start time (6). SIGKILL (or a power cut) leaves such entries behind; the next run that writes into
the same folder removes those whose owner is gone, with a warning, and never those of a live run,
nor those of another host or container, whose processes it cannot see.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import shutil
import sys
import threading
from pathlib import Path

NAME_MAX = 255
MAX_SUFFIX = 16  # a longer extension is left out of the temporary name
_TEMPORARY = re.compile(r"^\..*\.(?P<pid>\d+)-(?P<tag>[0-9a-f]{10})-[0-9a-f]{8}\.(?:part|old)")


# --- who owns a temporary entry ---------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()[:size]


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot), or None where it cannot be read."""
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


@functools.cache
def host_tag() -> str:
    """This host and PID namespace: two containers on one machine see different processes."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return _digest(os.uname().nodename + namespace, 4)


def process_tag(pid: int) -> str | None:
    """The 10 hex digits naming process `pid` here (host, boot, start time); None where it cannot be read."""
    start = _start_time(pid)
    return None if start is None else host_tag() + _digest(_read("/proc/sys/kernel/random/boot_id") + ":" + start, 6)


_OWNER: dict[int, str] = {}


def _owner() -> str:
    """`<pid>-<tag>` of this process (computed again after a fork)."""
    pid = os.getpid()
    if pid not in _OWNER:
        _OWNER[pid] = f"{pid}-{process_tag(pid) or host_tag() + '000000'}"
    return _OWNER[pid]


def _alive(pid: int, tag: str) -> bool:
    """Whether the owner of a temporary entry may still be running (when unsure: yes)."""
    if tag[:4] != host_tag():
        return True  # another host or container: its processes cannot be seen from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive, unless its start time says the PID was reused
    except OSError:
        return True
    current = process_tag(pid)
    return current is None or current == tag


# --- temporary names ----------------------------------------------------------------------------


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX


def temporary_path(target: Path, kind: str = "part", suffix: str = "") -> Path:
    """A fresh name beside `target` for one of its temporary entries, within the name limit."""
    suffix = suffix if len(os.fsencode(suffix)) <= MAX_SUFFIX else ""
    tail = f".{_owner()}-{secrets.token_hex(4)}.{kind}{suffix}"
    budget = _name_max(target.parent) - 1 - len(tail.encode())
    name = os.fsencode(target.name)
    short = os.fsdecode(name[: max(budget, 0)]) if len(name) > budget else target.name
    return target.parent / f".{short}{tail}"


_SWEPT: set[str] = set()
_SWEEP_LOCK = threading.Lock()


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary entries in `folder` whose owner is dead (once per folder and process);
    each is named in a warning on stderr. Returns what was removed."""
    key = os.path.realpath(folder)
    with _SWEEP_LOCK:
        if key in _SWEPT:
            return []
        _SWEPT.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or _alive(int(match["pid"]), match["tag"]):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
        text = f"removed {entry.path}, left by an rvos run that was killed (process {match['pid']})"
        sys.stderr.write("warning: " + text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") + "\n")
    return removed
