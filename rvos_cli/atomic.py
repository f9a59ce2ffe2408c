"""Atomic outputs: write under a temporary name beside the target, rename when complete.

On any exception (KeyboardInterrupt included, and so SIGTERM and SIGHUP, which `ui.handle_errors`
turns into one) the temporary file or folder is removed, so a failed or interrupted command never
leaves a half-written output behind. An OSError creating or renaming the output, or a full disk,
a quota or a read-only file system while writing it, is one OutputError (exit 5) naming the target
and the cause. A signal that arrives while an output is being renamed into place waits until the
rename is done, so an output is either complete or absent. The temporary names, and what a killed
run leaves, are `rvos_cli/temporaries.py`'s.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Iterator

from rvos_cli.errors import output_error
from rvos_cli.temporaries import remove_stale, temporary_path

# Errors that only writing causes: they are the output's fault wherever they surface.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


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
