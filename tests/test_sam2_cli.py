"""SAM 2.1 and SAM 3's tracker through everything `rvos propagate` does: a model folder by --checkpoint
or installed, boxes and points from the shell, per-object scores in --json, the Python API, bench,
`--model auto`, and bad input (tiny random models from the config classes; no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import rvos
from rvos_cli.cli import app
from rvos_cli.models.sam2.configs import random_model, tiny_config
from rvos_cli.video import read_label_png


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sam")
    models = {"sam2": folder / "tiny-sam2", "sam3-tracker": folder / "tiny-sam3-tracker"}
    for name, path in models.items():
        random_model(tiny_config(name), seed=1).save_pretrained(path)
    return models


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def summary_of(*args) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", ["sam2", "sam3-tracker"])
def test_masks_boxes_and_points_through_cli_and_api(model, folders, tiny_clip, tmp_path, one_thread):
    video, mask = tiny_clip
    summary = summary_of("propagate", video, "--model", model, "--checkpoint", folders[model], "--mask", mask,
                         "--box", "8,8,40,30@1", "--point", "50,20;10,40,0@2", "-o", tmp_path / "o")  # fmt: skip
    assert summary["model"] == model and summary["frames"] == 4 and summary["objects"] == [1, 2, 3, 4]
    stats = {row["id"]: row for row in summary["object_stats"]}
    assert all(0 <= stats[i]["mean_score"] <= 1 for i in stats)
    assert all(row["present"][0][0] >= {3: 1, 4: 2}.get(i, 0) for i, row in stats.items())  # joins on its frame
    written = [read_label_png(p) for p in sorted((tmp_path / "o").glob("*.png"))]
    prompts = {
        1: [rvos.ObjectPrompt(3, box=(8, 8, 40, 30))],
        2: [rvos.ObjectPrompt(4, points=((50, 20, 1), (10, 40, 0)))],
    }
    tracker = rvos.Propagator(model, checkpoint=folders[model], device="cpu")
    tracked = [labels for _, labels in tracker.track(str(video), read_label_png(mask), prompts=prompts)]
    assert len(tracked) == len(written) == 4
    assert all(np.array_equal(a, b) for a, b in zip(tracked, written))  # the CLI and the API agree


def test_objects_given_by_box_alone(folders, tiny_clip, tmp_path, one_thread):
    video, _ = tiny_clip
    summary = summary_of("propagate", video, "--model", "sam2", "--checkpoint", folders["sam2"], "--box",
                         "5:8,8,40,30", "-o", tmp_path / "o")  # fmt: skip
    assert summary["objects"] == [5] and summary["mask"] == []
    assert set(np.unique(read_label_png(sorted((tmp_path / "o").glob("*.png"))[0]))) <= {0, 5}


def test_bench_with_a_model_folder(folders, tmp_path, one_thread):
    bench = summary_of("bench", "propagate", "--model", "sam2", "--checkpoint", folders["sam2"], "--frames", "3",
                       "--size", "48x64", "--repeat", "1", "--warmup", "0")  # fmt: skip
    assert bench["model"] == "sam2" and bench["parameters"] > 0 and bench["settings"]["model_input"] == [64, 64]


def test_auto_takes_an_installed_sam2_on_the_cpu(folders, tiny_clip, tmp_path, one_thread):
    video, mask = tiny_clip
    cache = tmp_path / "cache"
    installed = run("download", "sam2.1-hiera-tiny", "--from", folders["sam2"], "--cache-dir", cache)
    assert installed.exit_code == 0, installed.output
    result = run("propagate", video, "--mask", mask, "--cache-dir", cache, "--device", "cpu", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "--model auto picked sam2 because its weights are installed (sam2.1-hiera-tiny)" in result.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--box", "8,8,400,30"], "outside the 64x48 frame"),
        (["--box", "8,8,40,30@9"], "frame 9 is past the clip's last kept frame (3)"),
        (["--box", "8,8,8,30"], "has no area"),
        (["--box", "1:8,8,40,30"], "object 1 is also painted in the mask of frame 0"),
        (["--box", "7:8,8,40,30", "--point", "7:20,20"], "object 7 is already given"),
        (["--point", "20,20,0"], "no box and no point on it"),
        (["--box", "8,8,40"], "is not [ID:]X0,Y0,X1,Y1[@FRAME]"),
    ],
)
def test_bad_prompts_are_one_error_line(extra, message, folders, tiny_clip, tmp_path):
    video, mask = tiny_clip
    result = run("propagate", video, "--model", "sam2", "--checkpoint", folders["sam2"], "--mask", mask, *extra,
                 "-o", tmp_path / "o")  # fmt: skip
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_models_without_prompts_and_folders_that_are_not_sam(folders, tiny_clip, tmp_path):
    video, mask = tiny_clip
    result = run("propagate", video, "--model", "flow", "--mask", mask, "--box", "8,8,40,30")
    assert result.exit_code == 2 and "--box needs a model that takes box prompts" in result.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    result = run("propagate", video, "--model", "sam2", "--checkpoint", tmp_path / "other", "--mask", mask)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    result = run("propagate", video, video, "--model", "sam2", "--mask", tmp_path, "--box", "8,8,40,30")
    assert result.exit_code == 2 and "--box and --point give objects of one video" in result.output
