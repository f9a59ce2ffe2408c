"""`rvos propagate --model rdevos` end to end on a synthetic frames folder with random official-layout weights."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.rdevos.layout import layout
from rvos_cli.video import open_video, read_label_png, write_palette_png
from rvos_cli.video.palette import DAVIS_PALETTE
from rvos_cli.video.synthetic import synthetic_clip

FRAMES, HEIGHT, WIDTH = 6, 64, 96
NAMES = [f"{i:05d}" for i in range(FRAMES)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rdevos")
    torch.save(random_state_dict(layout(), seed=3), folder / "model_s012_final.pth")
    (folder / "clip").mkdir()
    for name, (frame, labels) in zip(NAMES, synthetic_clip(FRAMES, WIDTH, HEIGHT)):
        cv2.imwrite(str(folder / "clip" / f"{name}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if name == NAMES[0]:
            write_palette_png(folder / "first.png", labels)
    return folder


def propagate(assets, *args):
    return CliRunner().invoke(app, ["propagate", str(assets / "clip"), *args])


def png_palette(path) -> np.ndarray:
    data = path.read_bytes()
    start = data.index(b"PLTE")
    length = int.from_bytes(data[start - 4 : start], "big")
    return np.frombuffer(data[start + 4 : start + 4 + length], np.uint8).reshape(-1, 3)


def test_writes_palette_pngs_and_overlay(assets):
    out, video = assets / "out", assets / "out.mp4"
    run = propagate(
        assets,
        "--mask",
        str(assets / "first.png"),
        "--model",
        "rdevos",
        "--checkpoint",
        str(assets / "model_s012_final.pth"),
        "--size",
        "0",
        "-o",
        str(out),
        "--video",
        str(video),
        "--json",
    )
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["model"] == "rdevos" and summary["frames"] == FRAMES
    assert summary["options"]["mem_every"] == 4 and summary["options"]["top_k"] == 20
    assert sorted(p.name for p in out.iterdir()) == [f"{n}.png" for n in NAMES]
    first = read_label_png(assets / "first.png")
    for name in NAMES:
        labels = read_label_png(out / f"{name}.png")
        assert labels.shape == (HEIGHT, WIDTH) and set(np.unique(labels)) <= {0, 1, 2}
        assert np.array_equal(png_palette(out / f"{name}.png")[:3], DAVIS_PALETTE[:3])
    assert np.array_equal(read_label_png(out / f"{NAMES[0]}.png"), first)
    overlay = open_video(video)
    assert (overlay.info.num_frames, overlay.info.width, overlay.info.height) == (FRAMES, WIDTH, HEIGHT)


def test_object_from_a_later_mask_joins_on_its_frame(assets):
    masks = assets / "masks"
    masks.mkdir()
    write_palette_png(masks / f"{NAMES[0]}.png", read_label_png(assets / "first.png").astype(np.uint8))
    late = np.zeros((HEIGHT, WIDTH), np.uint8)
    late[2:14, 70:94] = 5
    write_palette_png(masks / f"{NAMES[3]}.png", late)
    out = assets / "joined"
    run = propagate(
        assets,
        "--mask",
        str(masks),
        "--model",
        "rdevos",
        "--checkpoint",
        str(assets / "model_s012_final.pth"),
        "--size",
        "0",
        "--mem-every",
        "2",
        "-o",
        str(out),
    )
    assert run.exit_code == 0, run.output
    labels = [read_label_png(out / f"{name}.png") for name in NAMES]
    assert not any((labels[t] == 5).any() for t in range(3))
    assert (labels[3][2:14, 70:94] == 5).mean() > 0.9
    assert not (labels[3][late == 0] == 5).any()


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((HEIGHT, WIDTH), np.uint8), "no objects"),
        (np.ones((HEIGHT, HEIGHT), np.uint8), "aspect ratio"),
        (np.full((HEIGHT, WIDTH), 300, np.uint16), "at most 255"),
    ],
)
def test_bad_masks_exit_2(assets, tmp_path, mask, message):
    cv2.imwrite(str(tmp_path / "bad.png"), mask)
    run = propagate(
        assets,
        "--mask",
        str(tmp_path / "bad.png"),
        "--model",
        "rdevos",
        "--checkpoint",
        str(assets / "model_s012_final.pth"),
        "-o",
        str(tmp_path / "out"),
    )
    assert run.exit_code == 2 and message in run.output
    assert not (tmp_path / "out").exists()


def test_installed_weights_become_the_default(assets, tmp_path, monkeypatch):
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))
    missing = propagate(
        assets,
        "--mask",
        str(assets / "first.png"),
        "--model",
        "rdevos",
        "--weights",
        "rdevos-davis",
        "-o",
        str(tmp_path / "none"),
    )
    assert missing.exit_code == 3 and "rvos download rdevos-davis" in missing.output
    install = CliRunner().invoke(app, ["download", "rdevos-davis", "--from", str(assets / "model_s012_final.pth")])
    assert install.exit_code == 0, install.output
    run = propagate(assets, "--mask", str(assets / "first.png"), "--size", "32", "-o", str(tmp_path / "out"), "--json")
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["model"] == "rdevos"
    # Processed at 32x48, written at the input size.
    assert read_label_png(tmp_path / "out" / f"{NAMES[-1]}.png").shape == (HEIGHT, WIDTH)
    assert (summary["options"]["mem_every"], summary["options"]["top_k"]) == (3, 40)
