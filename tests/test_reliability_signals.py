"""Issue 11: SIGTERM and SIGHUP end `propagate` and `refer` as Ctrl-C does: nothing left, one line, 143 / 129."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import write_tiny_tokenizer

from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.rdevos.layout import layout
from rvos_cli.models.registry import MODELS
from rvos_cli.video.synthetic import write_sample


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signals")
    torch.save(random_state_dict(layout(), seed=3), folder / "rdevos.pth")
    state = random_state_dict(MODELS["mttr"].layout("video-swin-t"), seed=1)
    torch.save({"model_state_dict": state}, folder / "mttr.pth.tar")
    write_tiny_tokenizer(folder / "tokenizer")
    write_sample(folder / "clip.mp4", seconds=30, fps=24, width=96, height=64, audio=True)
    return folder


def command(assets, name: str, out) -> list[str]:
    clip = str(assets / "clip.mp4")
    if name == "propagate":
        args = ["propagate", clip, "--mask", str(assets / "clip.mask.png"), "--model", "rdevos"]
        args += ["--checkpoint", str(assets / "rdevos.pth"), "-o", str(out / "masks"), "--video", str(out / "o.mp4")]
    else:
        args = ["refer", clip, "-t", "a b", "--checkpoint", str(assets / "mttr.pth.tar")]
        args += ["--tokenizer", str(assets / "tokenizer"), "--size", "64", "--window", "8", "--overlap", "2"]
        args += ["-o", str(out / "o.mp4"), "--masks", str(out / "masks")]
    return [sys.executable, "-m", "rvos_cli.cli", *args, "--device", "cpu", "--max-seconds", "0"]


def default_signals() -> None:
    """The command as a terminal starts it: a test runner started under `nohup` (or by a service
    that ignores SIGHUP) would otherwise hand the ignored disposition down, and rvos rightly keeps
    a signal its caller chose to ignore."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("name", ["propagate", "refer"])
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_cleans_up_and_exits_like_a_shell(assets, tmp_path, name, signum, code):
    process = subprocess.Popen(
        command(assets, name, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=default_signals,
    )
    try:
        deadline = time.monotonic() + 180
        while not [p for p in tmp_path.iterdir() if ".part" in p.name]:  # the outputs are being written
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no output started"
            time.sleep(0.05)
        time.sleep(0.5)
        assert process.poll() is None, "finished before the signal; make the clip longer"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == code, stderr.decode()
    assert lines[-1].startswith("error: terminated by") and signal.Signals(signum).name in lines[-1]
    assert sum(line.startswith("error:") for line in lines) == 1 and "Traceback" not in stderr.decode()
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
