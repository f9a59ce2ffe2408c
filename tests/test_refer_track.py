"""`rvos refer --track`: the referring model picks each text's object where it is most confident, a
tracker carries it through the whole video (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import toy_models
from conftest import write_tiny_tokenizer
from safetensors.torch import save_file
from typer.testing import CliRunner

import rvos
from rvos_cli.cli import app
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.registry import register, unregister
from rvos_cli.models.sam2 import Sam2Propagator
from rvos_cli.models.sam2.configs import random_model, tiny_config
from rvos_cli.video import open_video, read_label_png
from rvos_cli.video.synthetic import write_sample


@pytest.fixture(autouse=True)
def toys():
    for spec in (*toy_models.SPECS, *toy_models.TRACKING):
        register(spec)
    yield
    for spec in (*toy_models.SPECS, *toy_models.TRACKING):
        unregister(spec.name)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("track")
    write_sample(folder / "clip.mp4", seconds=1.0, fps=8, width=64, height=48, audio=False)  # 8 frames
    save_file({"gain": torch.zeros(1)}, str(folder / "toy.safetensors"))
    toy_models.write_toy_folder(folder / "toytrack")
    random_model(tiny_config("sam2"), seed=2).save_pretrained(folder / "tiny-sam2")
    return {
        "clip": folder / "clip.mp4",
        "weights": folder / "toy.safetensors",
        "tokenizer": write_tiny_tokenizer(folder / "tokenizer"),
        "toytrack": folder / "toytrack",
        "sam2": folder / "tiny-sam2",
    }


def refer(assets, out: Path, *extra) -> dict:
    args = ["refer", assets["clip"], "-t", "a", "--model", "toywin", "--checkpoint", assets["weights"], "--tokenizer",
            assets["tokenizer"], "--window", 4, "--overlap", 0, "--masks", out, "-o", out.with_suffix(".mp4"), "--json",
            *extra]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def masks_of(folder: Path) -> list[np.ndarray]:
    return [read_label_png(p) > 0 for p in sorted((folder / "0").glob("*.png"))]


def test_track_keeps_one_identity_where_windows_disagree(assets, tmp_path):
    plain = refer(assets, tmp_path / "plain")
    assert [w["score"] for w in plain["queries"][0]["windows"]] == [0.9, 0.5]
    untracked = masks_of(tmp_path / "plain")
    assert untracked[0][:, :32].all() and untracked[7][:, 32:].all()  # the object changes with the window
    tracked_run = refer(assets, tmp_path / "tracked", "--track", "toytrack", "--track-checkpoint", assets["toytrack"])
    assert tracked_run["queries"][0]["seed_frame"] == 2 and tracked_run["queries"][0]["seed_score"] == pytest.approx(
        0.9
    )
    assert tracked_run["track"] == {"model": "toytrack", "weights": str(assets["toytrack"])}
    tracked = masks_of(tmp_path / "tracked")
    assert len(tracked) == 8 and all(m[:, :32].all() and not m[:, 32:].any() for m in tracked)
    info = open_video(tmp_path / "tracked.mp4", max_seconds=0).info
    assert info.num_frames == 8 and tracked_run["frames"] == 8


def test_tracked_masks_are_the_trackers_forward_and_backward_runs(assets, tmp_path):
    """With SAM 2, a text's masks equal the propagator run from the seed frame's mask forward, and on the
    reversed clip backward (tiny random weights: the numbers need not mean anything, the merge must)."""
    summary = refer(assets, tmp_path / "sam", "--track", "sam2", "--track-checkpoint", assets["sam2"])
    seed = summary["queries"][0]["seed_frame"]
    written = masks_of(tmp_path / "sam")
    frames = [frame for _, frame in open_video(assets["clip"], max_seconds=0)]
    seed_mask = np.zeros((48, 64), bool)
    seed_mask[:, :32] = True  # window 0 of the toy model: the left half
    tracker = Sam2Propagator(random_model(tiny_config("sam2"), seed=2).eval())
    expected = {}
    with torch.inference_mode():
        for order in (range(seed, 8), range(seed, -1, -1)):
            for step, index in enumerate(order):
                prompts = (ObjectPrompt(1, mask=seed_mask),) if step == 0 else ()
                if step == 0:
                    tracker.start(frames[index], None, prompts, len(order))
                else:
                    tracker.step(frames[index], None, prompts)
                expected.setdefault(index, tracker.object_masks().get(1, np.zeros((48, 64), bool)))
    assert all(np.array_equal(written[i], expected[i]) for i in range(8))


def test_api_and_bad_track_options(assets, tmp_path):
    referrer = rvos.Referrer(model="toywin", checkpoint=assets["weights"], tokenizer=assets["tokenizer"], window=4,
                             overlap=0, track="toytrack", track_checkpoint=assets["toytrack"])  # fmt: skip
    frames = list(referrer.segment(str(assets["clip"]), "a"))
    assert len(frames) == 8 and all(masks[0][:, :32].all() and not masks[0][:, 32:].any() for _, masks in frames)
    base = ["refer", str(assets["clip"]), "-t", "a", "--model", "toywin", "--checkpoint", str(assets["weights"]),
            "--tokenizer", str(assets["tokenizer"]), "--overlap", "0"]  # fmt: skip
    for extra, message in (
        (["--track", "rdevos"], "RDE-VOS cannot take objects by their own masks; use --track"),
        (["--track-checkpoint", str(assets["toytrack"])], "give the tracker with --track too"),
        (["--track", "mttr"], "MTTR is a referring model"),
    ):
        result = CliRunner().invoke(app, base + extra)
        assert result.exit_code == 2 and message in result.output, result.output
