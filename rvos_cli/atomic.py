"""Atomic outputs: write under a temporary name beside the target, rename when complete.

On any exception (KeyboardInterrupt included, and so SIGTERM and SIGHUP, which `ui.handle_errors`
turns into one) the temporary file or folder is removed, so a failed or interrupted command never
leaves a half-written output behind. An OSError creating or renaming the output is one
OutputError (exit 5) naming the target and the cause.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from rvos_cli.errors import output_error


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


def _temp_name(target: Path) -> Path:
    with _creating(target):
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=target.parent)
    os.close(fd)
    # mkstemp makes 0600 files; outputs get the permissions a plain open() would give.
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; it becomes `target` only if the block succeeds."""
    target = Path(target)
    tmp = _temp_name(target)
    try:
        yield tmp
        with _creating(target):
            # Writers that replace the file (safetensors' save_file) make it 0600 again: the umask decides.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; on success it replaces `target`.

    An existing `target` folder is replaced only after the new one is complete.
    """
    target = Path(target)
    with _creating(target):
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        with _creating(target):
            if target.exists():
                _swap(tmp, target)
            else:
                os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, target: Path) -> None:
    """Replace folder `target` by `new`; if that fails, the previous `target` is put back."""
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / "x")
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old / "x", target)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)
