"""`rvos refer` end to end on a synthetic clip with a random-weight checkpoint in the official layout."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from conftest import write_tiny_tokenizer
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.registry import MODELS
from rvos_cli.video import open_video
from rvos_cli.video.synthetic import write_sample

FRAMES, FPS, WIDTH, HEIGHT = 18, 12.0, 96, 64


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refer")
    state = random_state_dict(MODELS["mttr"].layout("video-swin-t"), seed=1)
    torch.save({"model_state_dict": state}, folder / "mttr.pth.tar")
    write_tiny_tokenizer(folder / "tokenizer")
    write_sample(folder / "clip.mp4", seconds=FRAMES / FPS, fps=FPS, width=WIDTH, height=HEIGHT, audio=False)
    return folder


@pytest.fixture(scope="module")
def run(assets):
    args = [
        "refer",
        str(assets / "clip.mp4"),
        "-t",
        "a b",
        "-t",
        "AB  c",
        "--checkpoint",
        str(assets / "mttr.pth.tar"),
        "--tokenizer",
        str(assets / "tokenizer"),
        "--size",
        "64",
        "--window",
        "8",
        "--overlap",
        "2",
        "-o",
        str(assets / "out.mp4"),
        "--masks",
        str(assets / "masks"),
        "--json",
        "--device",
        "cpu",
    ]
    return CliRunner().invoke(app, args)


def _masks(folder, query):
    return np.stack(
        [cv2.imread(str(folder / str(query) / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) for i in range(FRAMES)]
    )


def test_writes_overlay_video_and_masks(run, assets):
    assert run.exit_code == 0, run.output
    source = open_video(assets / "out.mp4")
    assert source.info.num_frames == FRAMES and source.info.fps == pytest.approx(FPS)
    assert (source.info.width, source.info.height) == (WIDTH, HEIGHT)
    for query in (0, 1):
        masks = _masks(assets / "masks", query)
        assert masks.shape == (FRAMES, HEIGHT, WIDTH) and set(np.unique(masks)) <= {0, 255}
    assert not list(assets.glob(".*part*"))


def _inner(masks):
    """Mask pixels away from the contour, where the overlay colour is not blended by H.264."""
    kernel = np.ones((5, 5), np.uint8)
    return np.stack([cv2.erode(m.astype(np.uint8), kernel) > 0 for m in masks])


def _blue_minus_red(video, where):
    frames = np.stack([frame for _, frame in open_video(video)]).astype(int)
    return np.median((frames[..., 2] - frames[..., 0])[where])


def test_query_colours(run, assets, tmp_path):
    """Query 1 is painted blue, query 2 red (drawn last, so it wins where both are)."""
    assert run.exit_code == 0, run.output
    red = _inner(_masks(assets / "masks", 1) > 0)
    assert red.sum() > 20 and _blue_minus_red(assets / "out.mp4", red) < -60

    single = CliRunner().invoke(
        app,
        [
            "refer",
            str(assets / "clip.mp4"),
            "-t",
            "a b",
            "--checkpoint",
            str(assets / "mttr.pth.tar"),
            "--tokenizer",
            str(assets / "tokenizer"),
            "--size",
            "64",
            "-o",
            str(tmp_path / "one.mp4"),
            "--masks",
            str(tmp_path / "m"),
        ],
    )
    assert single.exit_code == 0, single.output
    assert single.stdout.startswith("wrote ") and "query 1 (blue): a b" in single.stdout
    blue = _inner(_masks(tmp_path / "m", 0) > 0)
    assert blue.sum() > 20 and _blue_minus_red(tmp_path / "one.mp4", blue) > 60


def test_json_summary(run):
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["frames"] == FRAMES and summary["fps"] == pytest.approx(FPS)
    assert summary["model_input"] == {"height": 64, "width": 96}
    assert summary["windows"] == 3 and summary["device"] == "cpu" and summary["precision"] == "fp32"
    assert [q["text"] for q in summary["queries"]] == ["a b", "ab c"]
    assert [q["color"] for q in summary["queries"]] == ["blue", "red"]
    for query in summary["queries"]:
        assert [(w["start"], w["end"]) for w in query["windows"]] == [(0, 8), (6, 14), (12, 18)]
        assert all(0 <= w["score"] <= 1 and 0 <= w["object_query"] < 50 for w in query["windows"])


@pytest.mark.parametrize(
    "args, entry",
    [
        ([], "mttr-ytvos"),
        (["--weights", "referformer-ytvos-vswin-b"], "referformer-ytvos-vswin-b"),
        (["--model", "referformer"], "referformer-ytvos-r50"),
        (["--model", "soc"], "soc-ytvos-t"),
        (["--weights", "soc-ytvos-joint-b"], "soc-ytvos-joint-b"),
    ],
)
def test_missing_weights_exit_3(assets, tmp_path, monkeypatch, args, entry):
    """Each model names the download that installs its (default) weights, before any decoding."""
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        app, ["refer", str(assets / "clip.mp4"), "-t", "a cat", "-o", str(tmp_path / "o.mp4"), *args]
    )
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"rvos download {entry}`" in result.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_bad_window_exit_2(assets, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "refer",
            str(assets / "clip.mp4"),
            "-t",
            "a",
            "--window",
            "4",
            "--overlap",
            "4",
            "--checkpoint",
            str(assets / "mttr.pth.tar"),
            "-o",
            str(tmp_path / "o.mp4"),
        ],
    )
    assert result.exit_code == 2 and "--overlap" in result.stderr


def test_masks_folder_may_not_replace_a_frames_input(assets, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((HEIGHT, WIDTH, 3), 90, np.uint8))
    result = CliRunner().invoke(
        app,
        [
            "refer",
            str(frames),
            "-t",
            "a",
            "--checkpoint",
            str(assets / "mttr.pth.tar"),
            "--tokenizer",
            str(assets / "tokenizer"),
            "-o",
            str(tmp_path / "o.mp4"),
            "--masks",
            str(frames),
        ],
    )
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr
    assert sorted(p.name for p in frames.iterdir()) == ["0.png", "1.png", "2.png"]
    assert not (tmp_path / "o.mp4").exists()


def test_legend_band_in_query_colours(assets, tmp_path):
    args = [
        "refer",
        str(assets / "clip.mp4"),
        "-t",
        "a b",
        "-t",
        "c",
        "--checkpoint",
        str(assets / "mttr.pth.tar"),
        "--tokenizer",
        str(assets / "tokenizer"),
        "--size",
        "64",
        "--window",
        "8",
        "--overlap",
        "2",
        "--max-seconds",
        "0.5",
        "--legend",
        "-o",
        str(tmp_path / "legend.mp4"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    _, frame = next(iter(open_video(tmp_path / "legend.mp4")))
    _, original = next(iter(open_video(assets / "clip.mp4")))
    # Two text lines on a band darkened to 40 %: the top rows are much darker than the input's.
    assert frame[:20].mean() < 0.7 * original[:20].mean()
    assert frame[40:].mean() > 0.7 * original[40:].mean()


def test_checkpoint_without_tokenizer_uses_roberta_base(assets, tmp_path, monkeypatch):
    """A hand-fetched checkpoint needs only the small roberta-base entry, not the whole mttr-ytvos download."""
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))
    args = [
        "refer",
        str(assets / "clip.mp4"),
        "-t",
        "a b",
        "--checkpoint",
        str(assets / "mttr.pth.tar"),
        "--size",
        "64",
        "--window",
        "3",
        "--overlap",
        "0",
        "--max-seconds",
        "0.25",
        "-o",
        str(tmp_path / "o.mp4"),
    ]
    missing = CliRunner().invoke(app, args)
    assert (
        missing.exit_code == 3
        and "pass --tokenizer DIR" in missing.stderr
        and "rvos download roberta-base" in missing.stderr
    )
    assert not (tmp_path / "o.mp4").exists()

    files = tmp_path / "roberta"
    shutil.copytree(assets / "tokenizer", files)
    (files / "config.json").write_text("{}")
    assert CliRunner().invoke(app, ["download", "roberta-base", "--from", str(files), "--offline"]).exit_code == 0
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert open_video(tmp_path / "o.mp4").info.num_frames == 3


def test_a_query_longer_than_the_text_encoder_takes_is_one_warning(assets, tmp_path):
    long = "a " * 600  # more than 512 tokens
    args = ["refer", str(assets / "clip.mp4"), "-t", "b", "-t", long, "--checkpoint", str(assets / "mttr.pth.tar")]
    args += [
        "--tokenizer",
        str(assets / "tokenizer"),
        "--size",
        "64",
        "--window",
        "4",
        "--overlap",
        "1",
        "--end",
        "0.25",
    ]
    run = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "o.mp4"), "--device", "cpu"])
    assert run.exit_code == 0, run.output
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "query 2" in warnings[0] and "truncated" in warnings[0], run.stderr


def test_ref_youtube_vos_root_writes_the_submission_layout(assets, tmp_path):
    """A dataset root is one batch: masks per expression id, no overlays, the model loaded once."""
    root = tmp_path / "ytvos"
    frames = [frame for _, frame in open_video(assets / "clip.mp4", max_seconds=0)][:5]
    meta = {"videos": {}}
    for video, count in (("v1", 5), ("v2", 3)):
        folder = root / "valid" / "JPEGImages" / video
        folder.mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(folder / f"{i * 5:05d}.jpg"), frames[i][..., ::-1])
        meta["videos"][video] = {"expressions": {"0": {"exp": "a b"}, "3": {"exp": "c"}}}
    (root / "meta_expressions" / "valid").mkdir(parents=True)
    (root / "meta_expressions" / "valid" / "meta_expressions.json").write_text(json.dumps(meta))
    args = [
        "refer",
        str(root),
        "--checkpoint",
        str(assets / "mttr.pth.tar"),
        "--tokenizer",
        str(assets / "tokenizer"),
        "--size",
        "64",
        "--window",
        "4",
        "--overlap",
        "1",
        "-o",
        str(tmp_path / "sub"),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["name"], line["status"]) for line in lines[:-1]] == [("v1", "done"), ("v2", "done")]
    assert lines[-1]["done"] == 2 and lines[-1]["failed"] == []
    for video, count in (("v1", 5), ("v2", 3)):
        for expression in ("0", "3"):
            folder = tmp_path / "sub" / "Annotations" / video / expression
            assert sorted(p.name for p in folder.iterdir()) == [f"{i * 5:05d}.png" for i in range(count)]
    assert not list((tmp_path / "sub").rglob("*.mp4"))
