import os
import stat
from pathlib import Path

import pytest

from rvos_cli.atomic import atomic_dir, atomic_file


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_file_appears_only_on_success_with_umask_permissions(tmp_path):
    target = tmp_path / "out.txt"
    old = os.umask(0o022)
    try:
        with atomic_file(target) as tmp:
            tmp.write_text("done")
            assert not target.exists()
    finally:
        os.umask(old)
    assert target.read_text() == "done"
    assert _mode(target) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_file_removed_on_error_and_interrupt(tmp_path):
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_file(tmp_path / "out.bin") as tmp:
                tmp.write_bytes(b"half")
                raise exc
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_existing_only_when_complete(tmp_path):
    target = tmp_path / "masks"
    target.mkdir()
    (target / "old.png").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "new.png").write_bytes(b"new")
            raise RuntimeError("fail")
    assert sorted(p.name for p in target.iterdir()) == ["old.png"]
    old = os.umask(0o022)
    try:
        with atomic_dir(target) as tmp:
            (tmp / "new.png").write_bytes(b"new")
    finally:
        os.umask(old)
    assert sorted(p.name for p in target.iterdir()) == ["new.png"]
    assert _mode(target) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]


@pytest.mark.parametrize("make, maker", [(atomic_file, "open"), (atomic_dir, "mkdir")])
def test_a_folder_that_refuses_writes_is_one_output_error(tmp_path, monkeypatch, make, maker):
    """os.access can say yes where the file system still refuses (read-only mounts, ACLs, running as root)."""
    from rvos_cli.errors import OutputError

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(f"os.{maker}", refuse)
    with pytest.raises(OutputError, match=r"cannot write .*out: Permission denied; choose a folder you can write to"):
        with make(tmp_path / "out"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_restores_the_previous_output_when_the_swap_fails(tmp_path, monkeypatch):
    target = tmp_path / "masks"
    target.mkdir()
    (target / "old.png").write_bytes(b"old")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(src).name.endswith(".part") and Path(dst) == target:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    from rvos_cli.errors import OutputError

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match=r"cannot write .*masks: No space left on device; free some space"):
        with atomic_dir(target) as tmp:
            (tmp / "new.png").write_bytes(b"new")
    assert (target / "old.png").read_bytes() == b"old" and not (target / "new.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]  # no .part, no .old folder left
