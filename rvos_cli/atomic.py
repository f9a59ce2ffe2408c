"""Atomic outputs: write under a temporary name beside the target, rename when complete.

On any exception (KeyboardInterrupt included, and so SIGTERM and SIGHUP, which `ui.handle_errors`
turns into one) the temporary file or folder is removed, so a failed or interrupted command never
leaves a half-written output behind. An OSError creating or renaming the output, or a full disk,
a quota or a read-only file system while writing it, is one OutputError (exit 5) naming the target
and the cause. A signal that arrives while an output is being renamed into place waits until the
rename is done, so an output is either complete or absent.

Temporary entries are named `.<name>.<pid>-<tag>-<random>.part<suffix>` (`.part` folders; `.old`
for a replaced folder on its way out), `<name>` shortened so that the whole stays within the file
system's name limit (NAME_MAX). `<pid>-<tag>` is the owner: its process id and a tag of its host,
boot and start time. SIGKILL (or a power cut) leaves such entries behind; the next run that writes
into the same folder removes those whose owner is gone, with a warning, and never those of a live
run, nor those of another host, whose processes it cannot see.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

from rvos_cli.errors import output_error

# Errors that only writing causes: they are the output's fault wherever they surface.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
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
def _host() -> str:
    """This host and PID namespace: two containers on one machine see different processes."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return _digest(os.uname().nodename + namespace, 4)


def _tag(pid: int) -> str | None:
    start = _start_time(pid)
    return None if start is None else _host() + _digest(_read("/proc/sys/kernel/random/boot_id") + ":" + start, 6)


_OWNER: dict[int, str] = {}


def _owner() -> str:
    """`<pid>-<tag>` of this process (computed again after a fork)."""
    pid = os.getpid()
    if pid not in _OWNER:
        _OWNER[pid] = f"{pid}-{_tag(pid) or _host() + '000000'}"
    return _OWNER[pid]


def _alive(pid: int, tag: str) -> bool:
    """Whether the owner of a temporary entry may still be running (when unsure: yes)."""
    if tag[:4] != _host():
        return True  # another host or container: its processes cannot be seen from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive, unless its start time says the PID was reused
    except OSError:
        return True
    current = _tag(pid)
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


# --- what happened to the outputs of this process, for the message after a signal --------------


class Journal:
    """Outputs completed and partial outputs removed, counted for the whole process."""

    def __init__(self) -> None:
        self.completed: list[Path] = []
        self.removed = 0

    def mark(self) -> tuple[int, int]:
        return len(self.completed), self.removed

    def since(self, mark: tuple[int, int]) -> tuple[list[Path], int]:
        """(outputs completed, partial outputs removed) after `mark`."""
        return self.completed[mark[0] :], self.removed - mark[1]

    def describe(self, mark: tuple[int, int]) -> str:
        """What an interrupted command leaves, said truthfully: "partial outputs were removed", the
        outputs that were already complete (they are kept), or "no output was written"."""
        completed, removed = self.since(mark)
        names = ", ".join(os.fspath(p) for p in completed[:2]) + (", ..." if len(completed) > 2 else "")
        if removed and completed:
            return f"partial outputs were removed; {len(completed)} finished output(s) were kept ({names})"
        if removed:
            return "partial outputs were removed"
        if completed:
            return f"no output was partly written; the finished ones were kept ({names})"
        return "no output was written"


JOURNAL = Journal()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait until the block is done (main thread only), then act as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(number)
        if handler not in (signal.SIG_IGN, signal.SIG_DFL, None):
            previous[number] = signal.signal(number, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in held[:1]:
            signal.raise_signal(number)


@contextlib.contextmanager
def _writing(target: Path) -> Iterator[None]:
    """A full disk, a quota or a read-only file system inside the block is an OutputError for `target`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise output_error(target, exc) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _creating(target: Path) -> Iterator[None]:
    # The folder may refuse even when os.access says yes: read-only mounts, ACLs, root squash.
    try:
        yield
    except OSError as exc:
        raise output_error(target, exc) from None


def _new_file(target: Path) -> Path:
    remove_stale(target.parent)
    with _creating(target):
        while True:
            tmp = temporary_path(target, "part", target.suffix)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                continue
    os.close(fd)
    # Outputs get the permissions a plain open() would give.
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


def new_dir(target: Path, kind: str = "part") -> Path:
    """A fresh temporary folder beside `target` (e.g. kind "part.frames" for a writer's scratch files)."""
    remove_stale(target.parent)
    with _creating(target):
        while True:
            tmp = temporary_path(target, kind)
            try:
                os.mkdir(tmp, 0o700)
                break
            except FileExistsError:
                continue
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; it becomes `target` only if the block succeeds."""
    target = Path(target)
    tmp = _new_file(target)
    try:
        with _writing(target):
            yield tmp
        with _creating(target), _signals_held():
            # Writers that replace the file (safetensors' save_file) make it 0600 again: the umask decides.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
            JOURNAL.completed.append(target)
    except BaseException:
        if os.path.lexists(tmp):
            tmp.unlink(missing_ok=True)
            JOURNAL.removed += 1
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; on success it replaces `target`.

    An existing `target` folder is replaced only after the new one is complete. Two processes
    writing the same folder at once both succeed; the one that finishes last wins.
    """
    target = Path(target)
    tmp = new_dir(target)
    try:
        with _writing(target):
            yield tmp
        with _creating(target), _signals_held():
            _replace_dir(tmp, target)
            JOURNAL.completed.append(target)
    except BaseException:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            JOURNAL.removed += 1
        raise


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder `new` in place of `target`. An existing `target` is moved aside first and deleted
    after; if putting `new` in place fails, the previous `target` is put back."""
    for _ in range(100):  # another process may put its own result in place between the steps
        if not os.path.lexists(target):
            try:
                os.replace(new, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                continue
        old = new_dir(target, "old")
        try:
            os.replace(target, old / "x")
        except FileNotFoundError:
            old.rmdir()
            continue
        try:
            os.replace(new, target)
        except BaseException as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                shutil.rmtree(old, ignore_errors=True)
                continue
            os.replace(old / "x", target)
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    raise OSError(errno.EBUSY, "other processes keep replacing it")
