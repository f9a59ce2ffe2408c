"""`rvos propagate` through the real CLI: outputs, accuracy, JSON, and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import workdir
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.video import open_video, read_label_png, write_palette_png
from rvos_cli.video.ffmpeg import stream_kinds
from rvos_cli.video.synthetic import synthetic_clip, write_sample

FPS = 24


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A 30-frame 320x240 clip with audio and its first-frame mask."""
    folder = tmp_path_factory.mktemp("sample")
    mask = write_sample(folder / "clip.mp4", seconds=30 / FPS, fps=FPS, audio=True)
    return folder / "clip.mp4", mask


@pytest.fixture
def work(tmp_path, sample, monkeypatch):
    """A fresh working folder holding clip.mp4 and clip.mask.png, and an empty weights cache (auto = flow)."""
    return workdir(tmp_path, sample, monkeypatch)


def rvos(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_flow_on_two_moving_objects_keeps_mean_iou(work):
    result = rvos(
        "propagate", "clip.mp4", "--mask", "clip.mask.png", "-o", "out", "--video", "overlay.mp4", "--model", "flow"
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (work / "out").iterdir())
    assert names == [f"{i:05d}.png" for i in range(30)]
    scores = []
    for index, (_, truth) in enumerate(synthetic_clip(30, 320, 240, cycle=3 * FPS)):
        labels = read_label_png(work / "out" / f"{index:05d}.png")
        for k in (1, 2):
            scores.append(((labels == k) & (truth == k)).sum() / ((labels == k) | (truth == k)).sum())
    assert np.mean(scores) >= 0.85
    info = open_video(work / "overlay.mp4").info
    assert (info.num_frames, info.fps, info.width, info.height) == (30, 24.0, 320, 240)
    assert stream_kinds(work / "overlay.mp4") == {"Video", "Audio"}
    assert not [p for p in work.iterdir() if p.name.startswith(".")]


def test_json_is_the_only_stdout(work):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rvos_cli",
            "propagate",
            "clip.mp4",
            "--mask",
            "clip.mask.png",
            "--json",
            "--end",
            "0.5",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(result.stdout)
    assert summary["frames"] == 12 and summary["fps"] == 24.0 and summary["model"] == "flow"
    assert summary["objects"] == [1, 2] and summary["device"] == "cpu"
    assert summary["outputs"] == {"masks": os.fspath(work / "clip.masks"), "video": None}
    assert {"decode", "model", "write"} <= set(summary["timings"])
    assert len(list((work / "clip.masks").iterdir())) == 12


def test_frames_folder_outputs_are_named_after_the_frames(work):
    (work / "frames").mkdir()
    clip = list(synthetic_clip(10, 320, 240, cycle=3 * FPS))
    for index, (frame, _) in enumerate(clip):
        cv2.imwrite(str(work / "frames" / f"{index * 5}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    result = rvos("propagate", "frames", "--mask", "clip.mask.png", "--video", "overlay.mp4", "--fps", "5")
    assert result.exit_code == 0, result.output
    names = sorted((p.name for p in (work / "frames.masks").iterdir()), key=lambda n: int(n.split(".")[0]))
    assert names == [f"{i * 5}.png" for i in range(10)]
    last = read_label_png(work / "frames.masks" / "45.png")
    assert ((last == 1) & (clip[-1][1] == 1)).sum() / ((last == 1) | (clip[-1][1] == 1)).sum() > 0.85
    info = open_video(work / "overlay.mp4").info
    assert (info.num_frames, info.fps, info.has_audio) == (10, 5.0, False)


def test_mask_folder_adds_objects_later(work):
    truth = [labels for _, labels in synthetic_clip(12, 320, 240, cycle=3 * FPS)]
    (work / "annotations").mkdir()
    write_palette_png(work / "annotations" / "00000.png", np.where(truth[0] == 1, 1, 0).astype(np.uint8))
    write_palette_png(work / "annotations" / "00006.png", np.where(truth[6] == 2, 5, 0).astype(np.uint8))
    result = rvos("propagate", "clip.mp4", "--mask", "annotations", "-o", "out", "--end", "0.5")
    assert result.exit_code == 0, result.output
    assert set(np.unique(read_label_png(work / "out" / "00005.png"))) == {0, 1}
    assert set(np.unique(read_label_png(work / "out" / "00011.png"))) == {0, 1, 5}


def test_mask_of_another_scale_is_resized_with_a_warning(work):
    small = cv2.resize(
        read_label_png(work / "clip.mask.png").astype(np.uint8), (160, 120), interpolation=cv2.INTER_NEAREST
    )
    write_palette_png(work / "small.png", small)
    result = rvos("propagate", "clip.mp4", "--mask", "small.png", "-o", "out", "--end", "0.2")
    assert result.exit_code == 0, result.output
    assert "warning: mask small.png is 160x120; resized" in result.stderr
    assert read_label_png(work / "out" / "00000.png").shape == (240, 320)


def _truncate(work):
    data = (work / "clip.mp4").read_bytes()
    (work / "cut.mp4").write_bytes(data[: len(data) // 3])
    return ["cut.mp4", "--mask", "clip.mask.png"]


def _text_file(work):
    (work / "notes.mp4").write_text("not a video")
    return ["notes.mp4", "--mask", "clip.mask.png"]


def _audio_only(work):
    from rvos_cli.video.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "tone.mp4"], check=True)
    return ["tone.mp4", "--mask", "clip.mask.png"]


def _empty_dir(work):
    (work / "frames").mkdir()
    return ["frames", "--mask", "clip.mask.png"]


def _mask(labels):
    def make(work):
        write_palette_png(work / "bad.png", labels)
        return ["clip.mp4", "--mask", "bad.png"]

    return make


def _frames_dir_as_output(work):
    (work / "frames").mkdir()
    cv2.imwrite(str(work / "frames" / "0.png"), np.zeros((240, 320, 3), np.uint8))
    return ["frames", "--mask", "clip.mask.png", "-o", "frames"]


def _video_inside_output(work):
    (work / "out").mkdir()
    write_palette_png(work / "out" / "00000.png", np.zeros((240, 320), np.uint8))  # a previous run's masks
    return ["clip.mp4", "--mask", "clip.mask.png", "-o", "out", "--video", "out/overlay.mp4"]


def _video_over_a_frame(work):
    (work / "frames").mkdir()
    cv2.imwrite(str(work / "frames" / "0.png"), np.zeros((240, 320, 3), np.uint8))
    return ["frames", "--mask", "clip.mask.png", "-o", "masks", "--video", "frames/0.png"]


def _foreign_folder(work):
    (work / "docs").mkdir()
    (work / "docs" / "thesis.tex").write_text("precious")
    return ["clip.mp4", "--mask", "clip.mask.png", "-o", "docs"]


BAD_INPUTS = {
    "missing file": (lambda w: ["nope.mp4", "--mask", "clip.mask.png"], "input nope.mp4 does not exist"),
    "unreadable video": (_text_file, "cannot decode notes.mp4"),
    "truncated video": (_truncate, "cut.mp4 is truncated or corrupted"),
    "zero frames": (_audio_only, "has no video stream (zero frames)"),
    "start after end": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--start", "5"],
        "is after the end of clip.mp4",
    ),
    "end before start": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--start", "1", "--end", "0.5"],
        "not after --start",
    ),
    "bad time": (lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--start", "soon"], "is not a time"),
    "empty frames dir": (_empty_dir, "has no .jpg, .jpeg or .png files"),
    "missing mask": (lambda w: ["clip.mp4", "--mask", "none.png"], "mask none.png does not exist"),
    "mask wrong aspect": (_mask(np.ones((100, 100), np.uint8)), "different aspect ratio"),
    "mask without objects": (_mask(np.zeros((240, 320), np.uint8)), "has no objects"),
    "unwritable output": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "-o", "missing/out"],
        "does not exist; create it",
    ),
    "output is the input": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "-o", "clip.mp4"],
        "would overwrite the input",
    ),
    "video is the input": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--video", "clip.mp4"],
        "would overwrite the input",
    ),
    "output is the frames dir": (_frames_dir_as_output, "would overwrite the input"),
    "output holds other files": (_foreign_folder, "already holds other files"),
    # The --output folder is replaced as a whole, which would delete a video written inside it.
    "video inside the output folder": (_video_inside_output, "is inside the --output folder"),
    "video over an input frame": (_video_over_a_frame, "would overwrite an image of the input folder"),
    "not-a-number time": (lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--end", "nan"], "is not a time"),
    "unknown model": (lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--model", "magic"], "unknown --model 'magic'"),
    "flow with a checkpoint": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--model", "flow", "--checkpoint", "x.pth"],
        "--checkpoint does not apply to --model flow",
    ),
    # A learned-model option selects rdevos under --model auto instead of being ignored by flow.
    "auto with a missing checkpoint": (
        lambda w: ["clip.mp4", "--mask", "clip.mask.png", "--checkpoint", "x.pth"],
        "checkpoint x.pth does not exist",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_output(work, case):
    make, message = BAD_INPUTS[case]
    args = make(work)
    before = listing(work)
    result = rvos("propagate", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert result.stdout == ""
    assert listing(work) == before


def test_interrupt_leaves_no_output(work, monkeypatch):
    from rvos_cli.models.flow import FlowPropagator

    def interrupted(self, frame, new_labels=None, prompts=()):
        raise KeyboardInterrupt

    monkeypatch.setattr(FlowPropagator, "step", interrupted)
    before = listing(work)
    result = rvos("propagate", "clip.mp4", "--mask", "clip.mask.png", "-o", "out", "--video", "overlay.mp4")
    assert result.exit_code == 130 and result.stderr.strip().splitlines()[-1] == "error: interrupted"
    assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
    assert listing(work) == before


def test_16_bit_mask_with_too_many_ids(work):
    ids = np.zeros((240, 320), np.uint16)
    ids[:10, :10] = 300
    cv2.imwrite(str(work / "wide.png"), ids)
    result = rvos("propagate", "clip.mp4", "--mask", "wide.png")
    assert result.exit_code == 2 and "at most 255 objects" in result.stderr
    assert not (work / "clip.masks").exists()
