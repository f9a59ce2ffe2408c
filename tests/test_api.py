"""The Python API (`import rvos`): load once, stream results, the same masks as the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_tiny_tokenizer
from typer.testing import CliRunner

import rvos
from rvos_cli.cli import app
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.registry import MODELS
from rvos_cli.video import open_video
from rvos_cli.video.synthetic import write_sample

FRAMES, FPS, WIDTH, HEIGHT = 7, 12.0, 96, 64
DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    mask = write_sample(folder / "clip.mp4", seconds=FRAMES / FPS, fps=FPS, width=WIDTH, height=HEIGHT, audio=False)
    return folder / "clip.mp4", mask


def test_flow_tracks_a_path_and_frames_in_memory_alike(clip):
    video, mask = clip
    first = rvos.read_mask(mask)
    tracker = rvos.Propagator("flow")
    from_path = list(tracker.track(video, first))
    assert [i for i, _ in from_path] == list(range(FRAMES))
    assert np.array_equal(from_path[0][1], first) and all(labels.dtype == np.uint8 for _, labels in from_path)
    assert set(np.unique(from_path[-1][1])) == {0, 1, 2}
    frames = np.stack([frame for _, frame in open_video(video, max_seconds=0)])
    from_frames = list(tracker.track(frames, first))  # the same tracker again: state is per video
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(from_path, from_frames))


def test_rdevos_from_a_state_dict(clip):
    video, mask = clip
    state = random_state_dict(MODELS["rdevos"].layout("resnet50"), seed=2)
    tracker = rvos.Propagator("rdevos", checkpoint=state, size=0, mem_every=2, top_k=5)
    assert tracker.settings["mem_every"] == 2 and tracker.name == "rdevos"
    out = list(tracker.track(video, rvos.read_mask(mask), max_seconds=0.25))
    assert [i for i, _ in out] == [0, 1, 2] and all(labels.shape == (HEIGHT, WIDTH) for _, labels in out)


def test_referrer_streams_the_masks_the_command_writes(clip, tmp_path):
    video, _ = clip
    tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer")
    state = random_state_dict(MODELS["mttr"].layout("video-swin-t"), seed=3)
    referrer = rvos.Referrer(
        model="mttr", checkpoint=state, tokenizer=tokenizer, size=64, window=4, overlap=1, device="cpu"
    )
    streamed = list(referrer.segment(video, ["a b", "c"]))
    assert [i for i, _ in streamed] == list(range(FRAMES))
    assert all(m.shape == (2, HEIGHT, WIDTH) and m.dtype == bool for _, m in streamed)

    import torch

    torch.save({"model_state_dict": state}, tmp_path / "mttr.pth.tar")
    args = [
        "refer",
        str(video),
        "-t",
        "a b",
        "-t",
        "c",
        "--checkpoint",
        str(tmp_path / "mttr.pth.tar"),
        "--tokenizer",
        str(tokenizer),
        "--size",
        "64",
        "--window",
        "4",
        "--overlap",
        "1",
        "--device",
        "cpu",
        "-o",
        str(tmp_path / "o.mp4"),
        "--masks",
        str(tmp_path / "masks"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for index, masks in streamed:
        for q in (0, 1):
            written = cv2.imread(str(tmp_path / "masks" / str(q) / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(written > 0, masks[q])


def test_errors_are_the_command_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))
    with pytest.raises(rvos.MissingWeightsError, match="rvos download mttr-ytvos"):
        rvos.Referrer()
    with pytest.raises(rvos.InputError, match="not `rvos refer`"):
        rvos.Referrer("rdevos-ytvos")
    with pytest.raises(rvos.InputError, match="unknown --device"):
        rvos.Propagator("flow", device="tpu")
    with pytest.raises(rvos.InputError, match="uses no weights"):
        rvos.Propagator("flow", checkpoint={})
    with pytest.raises(rvos.InputError, match="first mask is 3x2"):
        next(rvos.Propagator("flow").track(np.zeros((2, 4, 6, 3), np.uint8), np.zeros((2, 3))))


def test_the_documented_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "last.png").is_file()


def test_compile_gives_the_same_masks(clip, tmp_path, monkeypatch):
    """`compile=True` (`--compile`) replaces the fixed-shape stages by their `torch.compile` graphs; traced
    here with the eager backend (the same graph capture, without inductor's minutes of code generation)."""
    from rvos_cli.pipelines import device

    monkeypatch.setattr(device, "COMPILE_BACKEND", "eager")
    video, mask = clip
    tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer")
    state = random_state_dict(MODELS["mttr"].layout("video-swin-t"), seed=3)
    common = dict(model="mttr", checkpoint=state, tokenizer=tokenizer, size=64, window=4, overlap=1, device="cpu")
    eager = rvos.Referrer(**common)
    plain = list(eager.segment(video, ["a b", "c"]))
    referrer = rvos.Referrer(**common, compile=True)
    compiled_stages = {"encode_video", "decode"} & set(vars(referrer.model.network))
    assert compiled_stages == {"encode_video", "decode"} and not {"encode_video", "decode"} & set(
        vars(eager.model.network)
    )
    compiled = list(referrer.segment(video, ["a b", "c"]))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain, compiled))

    state = random_state_dict(MODELS["rdevos"].layout("resnet50"), seed=2)
    common = dict(checkpoint=state, size=0, mem_every=2, top_k=5, device="cpu")
    plain = list(rvos.Propagator("rdevos", **common).track(video, rvos.read_mask(mask), max_seconds=0.25))
    tracker = rvos.Propagator("rdevos", **common, compile=True)
    assert tracker.settings["compile"] is True
    assert {"encode_key", "encode_value", "segment"} <= set(vars(tracker.propagator.network))
    compiled = list(tracker.track(video, rvos.read_mask(mask), max_seconds=0.25))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain, compiled))
