"""`rvos sample`: a synthetic clip and first-frame mask that `rvos propagate` accepts."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.video import open_video, read_label_png
from rvos_cli.video.ffmpeg import stream_kinds


def test_sample_writes_clip_mask_and_next_command(tmp_path):
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "clip.mp4")])
    assert result.exit_code == 0, result.output
    info = open_video(tmp_path / "clip.mp4").info
    assert (info.num_frames, info.fps, info.width, info.height) == (72, 24.0, 320, 240)
    assert stream_kinds(tmp_path / "clip.mp4") == {"Video", "Audio"}
    mask = read_label_png(tmp_path / "clip.mask.png")
    assert mask.shape == (240, 320) and set(np.unique(mask)) == {0, 1, 2}
    assert (tmp_path / "clip.mask.png").read_bytes()[25] == 3  # palette PNG
    assert f"rvos propagate {tmp_path / 'clip.mp4'} --mask {tmp_path / 'clip.mask.png'}" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mask.png", "clip.mp4"]


def test_sample_options(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "sample",
            str(tmp_path / "s.mp4"),
            "--no-audio",
            "--seconds",
            "1",
            "--width",
            "64",
            "--height",
            "48",
            "--fps",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    info = open_video(tmp_path / "s.mp4").info
    assert (info.num_frames, info.fps, info.width, info.height, info.has_audio) == (10, 10.0, 64, 48, False)


def test_sample_rejects_other_extensions(tmp_path):
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "clip.avi")])
    assert result.exit_code == 2 and "must end in .mp4" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_odd_size_sample_mask_fits_its_clip(tmp_path):
    """H.264 pads odd sizes to even; the mask must match the clip so the suggested propagate command works."""
    clip = tmp_path / "odd.mp4"
    result = CliRunner().invoke(
        app, ["sample", str(clip), "--no-audio", "--seconds", "0.5", "--width", "33", "--height", "17"]
    )
    assert result.exit_code == 0, result.output
    info = open_video(clip).info
    mask = read_label_png(tmp_path / "odd.mask.png")
    assert mask.shape == (info.height, info.width) == (18, 34)
    assert not mask[17].any() and not mask[:, 33].any()
    run = CliRunner().invoke(
        app, ["propagate", str(clip), "--mask", str(tmp_path / "odd.mask.png"), "-o", str(tmp_path / "m")]
    )
    assert run.exit_code == 0, run.output


def test_sample_rejects_non_finite_numbers(tmp_path):
    for option in (["--seconds", "nan"], ["--fps", "inf"]):
        result = CliRunner().invoke(app, ["sample", str(tmp_path / "clip.mp4"), *option])
        assert result.exit_code == 2 and result.stderr.startswith("error: --seconds and --fps must be positive")
    assert list(tmp_path.iterdir()) == []
