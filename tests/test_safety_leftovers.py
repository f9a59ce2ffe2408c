"""Issue 19: temporary names within the file-name limit, what a killed run leaves and the next run
removes, two runs writing one output, and a signal that arrives as the outputs are put in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rvos_cli.atomic import atomic_dir, atomic_file
from rvos_cli.cli import app
from rvos_cli.video import read_label_png
from rvos_cli.video.synthetic import write_sample


@pytest.fixture
def sample(tiny_clip):
    return tiny_clip


def flow(sample, *args):
    video, mask = sample
    return CliRunner().invoke(app, ["propagate", str(video), "--mask", str(mask), "--model", "flow", *map(str, args)])


def test_outputs_named_up_to_the_file_name_limit_are_written(tmp_path, sample):
    long_file = tmp_path / ("v" * 251 + ".mp4")  # 255 bytes: the temporary name must be shortened
    long_dir = tmp_path / ("m" * 255)
    result = flow(sample, "-o", long_dir, "--video", long_file)
    assert result.exit_code == 0, result.output
    assert len(list(long_dir.iterdir())) == 4 and long_file.stat().st_size > 0
    with atomic_file(tmp_path / ("é" * 127 + "x")) as tmp:  # 255 bytes of UTF-8
        tmp.write_text("ok")
    assert sorted(len(os.fsencode(p.name)) for p in tmp_path.iterdir()) == [255, 255, 255]


def fake_temporary(folder: Path, name: str, pid: int, tag: str, kind: str = "part") -> Path:
    path = folder / f".{name}.{pid}-{tag}-0123abcd.{kind}"
    path.mkdir()
    (path / "00000.png").write_bytes(b"half")
    return path


def test_a_killed_runs_temporaries_are_removed_by_the_next_run_and_a_live_runs_never(tmp_path, sample, capfd):
    from rvos_cli import temporaries

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = temporaries.host_tag()
        dead = fake_temporary(tmp_path, "out", gone.pid, host + "000000")
        reused = fake_temporary(tmp_path, "out", alive.pid, host + "000000")  # that PID now runs something else
        old = fake_temporary(tmp_path, "out", gone.pid, host + "000000", "old")
        running = fake_temporary(tmp_path, "out", alive.pid, temporaries.process_tag(alive.pid))
        elsewhere = fake_temporary(tmp_path, "out", gone.pid, "ffff000000" if host != "ffff" else "eeee000000")
        result = flow(sample, "-o", tmp_path / "out")
        assert result.exit_code == 0, result.output
        assert not dead.exists() and not reused.exists() and not old.exists()
        assert running.exists() and elsewhere.exists()  # a live run's, and another host's: never touched
        err = capfd.readouterr().err + result.stderr
        assert err.count("left by an rvos run that was killed") == 3 and dead.name in err
    finally:
        alive.kill()
        alive.wait()


def test_a_run_killed_with_sigkill_is_cleaned_up_by_the_next_one(tmp_path):
    mask = write_sample(tmp_path / "long.mp4", seconds=20, fps=24, width=128, height=96, audio=False)
    command = [sys.executable, "-m", "rvos_cli", "propagate", "long.mp4", "--mask", mask.name, "--model", "flow"]
    command += ["-o", "out", "--video", "out.mp4", "--max-seconds", "0", "-q"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not [p for p in tmp_path.iterdir() if ".part" in p.name]:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        process.kill()
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    left = sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name)
    assert left, "SIGKILL leaves the temporaries behind"
    again = subprocess.run([*command[:-3], "--end", "0.5", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
    assert all(name in again.stderr for name in left) and "was killed" in again.stderr


def test_two_writers_of_one_output_at_once_both_finish(tmp_path):
    target, errors = tmp_path / "masks", []

    def write(label: str) -> None:
        try:
            for i in range(30):
                with atomic_dir(target) as tmp:
                    (tmp / "who.txt").write_text(f"{label} {i}")
                with atomic_file(tmp_path / "table.csv") as tmp:
                    tmp.write_text(label)
        except Exception as error:  # noqa: BLE001 - any failure is the test's failure
            errors.append(error)

    threads = [threading.Thread(target=write, args=(label,)) for label in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks", "table.csv"]
    assert (target / "who.txt").read_text() in ("a 29", "b 29")


def terminate_after(monkeypatch, when) -> None:
    """SIGTERM this process right after the os.replace for which `when(src, dst)` holds."""
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        if when(Path(src), Path(dst)):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "replace", replace)


def test_a_signal_as_the_last_output_is_put_in_place_never_says_it_was_removed(tmp_path, sample, monkeypatch):
    out = tmp_path / "out"
    terminate_after(monkeypatch, lambda src, dst: dst == out)
    result = flow(sample, "-o", out)
    assert result.exit_code == 143
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: terminated by SIGTERM") and "removed" not in line and "kept" in line, line
    assert len(list(out.iterdir())) == 4 and read_label_png(out / "00003.png").max() > 0


def test_a_signal_while_a_folder_is_being_replaced_keeps_an_output_and_no_old_copy(tmp_path, sample, monkeypatch):
    out = tmp_path / "out"
    assert flow(sample, "-o", out).exit_code == 0
    terminate_after(monkeypatch, lambda src, dst: src == out)  # the previous output, just moved aside
    result = flow(sample, "-o", out)
    assert result.exit_code == 143, result.output
    assert len(list(out.iterdir())) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .old copy, no .part left
