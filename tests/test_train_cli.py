"""`rvos train` end to end on a tiny synthetic Ref-YouTube-VOS root (MTTR at 32x48, one frame per window).

One thread: on a shared 2-core machine torch's two OpenMP threads spin against each other (10x slower).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.models.mttr import load_mttr
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.registry import MODELS
from rvos_cli.models.tokenizer import write_stand_in_tokenizer
from rvos_cli.train.synthetic import write_synthetic_dataset

TINY = ["--size", "32", "--max-size", "48", "--window", "1", "--workers", "0", "--threads", "1"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A random MTTR checkpoint, a stand-in tokenizer and a dataset of 6 training samples (1 video, 2 objects,
    3 frames) and 6 validation ones."""
    root = tmp_path_factory.mktemp("train")
    state = random_state_dict(MODELS["mttr"].layout(MODELS["mttr"].variants[0]), seed=3)
    save_file({k: v.contiguous() for k, v in state.items()}, str(root / "random.safetensors"))
    data = write_synthetic_dataset(root / "data", train_videos=1, valid_videos=1, frames=3, size=(32, 48), seed=1)
    return {
        "checkpoint": root / "random.safetensors",
        "tokenizer": write_stand_in_tokenizer(root / "tok"),
        "data": data,
    }


def rvos(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def train(assets, run_dir: Path, *extra, data=None):
    return rvos(
        "train", data or assets["data"], "-o", run_dir, "--checkpoint", assets["checkpoint"],
        "--tokenizer", assets["tokenizer"], *TINY, *extra,
    )  # fmt: skip


def steps(run_dir: Path) -> list[dict]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "step"]


def test_resume_after_three_of_six_steps_equals_the_uninterrupted_run(assets, tmp_path):
    whole = train(assets, tmp_path / "whole", "--epochs", "1", "--json")
    assert whole.exit_code == 0, whole.output
    records = [json.loads(line) for line in whole.stdout.splitlines()]
    assert [r["event"] for r in records] == ["step"] * 6 + ["epoch", "summary"]
    assert records[-1]["status"] == "finished" and records[-1]["steps"] == 6
    assert set(records[0]["losses"]) >= {"loss_is_referred", "loss_dice", "loss_sigmoid_focal", "loss_dice_1"}
    validation = records[-2]["validation"]
    assert {"mAP 0.5:0.95", "AP 0.5", "AP 0.75", "overall_iou", "mean_iou", "P@0.5"} <= set(validation)

    first = train(assets, tmp_path / "split", "--epochs", "1", "--max-steps", "3")
    assert first.exit_code == 0, first.output
    assert "stopped: 3 steps" in first.stdout
    resumed = rvos("train", "--resume", tmp_path / "split", "--tokenizer", assets["tokenizer"],
                   "--checkpoint", assets["checkpoint"], "--threads", "1", "--workers", "0")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert "finished: 6 steps" in resumed.stdout
    again = train(assets, tmp_path / "split")
    assert again.exit_code == 2 and "already holds a run" in again.output
    other = rvos("train", "--resume", tmp_path / "split", "--window", "2", "--tokenizer", assets["tokenizer"])
    assert other.exit_code == 2 and "another configuration (window: 1 != 2)" in other.output, other.output

    assert [s["loss"] for s in steps(tmp_path / "split")] == [s["loss"] for s in steps(tmp_path / "whole")]
    ours, theirs = (
        load_file(tmp_path / "split" / "model.safetensors"),
        load_file(tmp_path / "whole" / "model.safetensors"),
    )
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    start = load_file(assets["checkpoint"])
    assert not torch.equal(ours["is_referred_head.weight"], start["is_referred_head.weight"])

    checkpoint = torch.load(tmp_path / "whole" / "checkpoints" / "00.pth.tar", weights_only=True)
    assert {"epoch", "total_epochs", "model_state_dict", "optimizer_state_dict", "scheduler_state_dict",
            "grad_scaler_state_dict"} <= set(checkpoint)  # fmt: skip
    assert checkpoint["epoch"] == 0 and list(checkpoint["model_state_dict"]) == list(
        MODELS["mttr"].layout(MODELS["mttr"].variants[0]).shapes
    )
    assert len(checkpoint["optimizer_state_dict"]["param_groups"]) == 3
    # `rvos refer --checkpoint RUN/model.safetensors` loads the trained weights through the same loader
    network = load_mttr(tmp_path / "whole" / "model.safetensors")
    assert torch.equal(network.is_referred_head.weight, theirs["is_referred_head.weight"])


def test_bad_inputs_are_one_error_line(assets, tmp_path):
    (tmp_path / "empty").mkdir()
    result = train(assets, tmp_path / "run", data=tmp_path / "empty")
    assert result.exit_code == 2 and result.output.startswith("error: ") and "is not a dataset root" in result.output

    data = write_synthetic_dataset(tmp_path / "data", train_videos=1, valid_videos=0, frames=2, size=(32, 48))
    meta = data / "meta_expressions" / "train" / "meta_expressions.json"
    videos = json.loads(meta.read_text())
    for video in videos["videos"].values():
        for expression in video["expressions"].values():
            expression["obj_id"] = "9"  # no mask has object 9
    meta.write_text(json.dumps(videos))
    result = train(assets, tmp_path / "run", data=data)
    assert result.exit_code == 2
    assert "refers to object 9, which no mask of the video has; skipped" in result.output
    assert "error: the train split" in result.output and "has no samples" in result.output
    assert not (tmp_path / "run").exists()

    for args, message in [
        (["--resume", tmp_path], "has no config.json"),
        (["--lr-milestones", "x"], "--lr-milestones"),
        (["--window", "0"], "--window must be at least 1"),
    ]:
        result = train(assets, tmp_path / "other", *args)
        assert result.exit_code == 2 and message in result.output, result.output


def test_corrupt_frames_are_skipped_and_a_non_finite_loss_stops_keeping_the_last_checkpoint(assets, tmp_path):
    """One sample per epoch has a corrupt frame; a learning rate of 1e30 makes the second step diverge."""
    data = write_synthetic_dataset(
        tmp_path / "data", train_videos=1, valid_videos=0, frames=2, size=(32, 48), objects=1
    )
    frame = sorted((data / "train" / "JPEGImages").glob("*/*.jpg"))[0]
    frame.write_bytes(b"not a jpeg")
    huge = ["--lr", "1e30", "--lr-backbone", "1e30", "--clip-max-norm", "0", "--epochs", "3"]
    result = train(assets, tmp_path / "run", *huge, data=data)
    assert result.exit_code == 2, result.output
    assert f"warning: skipped a sample: {frame.parent.name}/{frame.name} cannot be decoded" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: the loss is not finite at step 2")
    epoch = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()][-1]
    assert epoch["event"] == "epoch" and epoch["skipped"] == 1 and epoch["step"] == 1
    kept = torch.load(tmp_path / "run" / "checkpoints" / "last.pth.tar", weights_only=True)
    assert kept["rvos"]["position"]["step"] == 1 and kept["epoch"] == 0
    weights = load_file(tmp_path / "run" / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert np.isfinite(steps(tmp_path / "run")[0]["loss"])


def test_sigterm_saves_a_resumable_checkpoint(assets, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "rvos_cli",
        "train",
        str(assets["data"]),
        "-o",
        str(run_dir),
        "--checkpoint",
        str(assets["checkpoint"]),
        "--tokenizer",
        str(assets["tokenizer"]),
        *TINY,
        "--epochs",
        "1",
        "--no-val",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    deadline = time.monotonic() + 300
    while not ((run_dir / "log.jsonl").is_file() and (run_dir / "log.jsonl").read_text()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr
    assert "saved a resumable checkpoint at step" in stderr and stderr.strip().splitlines()[-1].startswith("error: ")
    kept = torch.load(run_dir / "checkpoints" / "last.pth.tar", weights_only=True)
    assert 1 <= kept["rvos"]["position"]["step"] == len(steps(run_dir)) < 6
    assert not list(run_dir.rglob("*.part*"))  # nothing half-written
