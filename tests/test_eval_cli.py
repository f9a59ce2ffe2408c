"""`rvos eval` end to end on tiny constructed datasets: JSON, CSV, layouts and the input errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.eval.metrics import f_measure
from rvos_cli.video.palette import write_palette_png

runner = CliRunner()
SIZE = 20  # boundary radius ceil(0.008 * sqrt(800)) = 1


def labels(*objects: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 [SIZE, SIZE] with object i+1 as the square (top, left, size) of objects[i]; id 0 skips."""
    out = np.zeros((SIZE, SIZE), np.uint8)
    for obj_id, (top, left, size) in objects:
        out[top : top + size, left : left + size] = obj_id
    return out


def write_video(folder: Path, frames: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_palette_png(folder / f"{name}.png", frame)


OBJ1, OBJ1_SHIFTED, OBJ2 = (1, (2, 2, 6)), (1, (2, 3, 6)), (2, (12, 12, 4))


@pytest.fixture
def davis(tmp_path: Path) -> tuple[Path, Path]:
    """Video a: 2 objects over 5 frames, scored frames 1-3; video b: 1 object, perfect."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    both = labels(OBJ1, OBJ2)
    write_video(gt / "a", {f"{t:05d}": both for t in range(4)} | {"00004": labels(OBJ2)})
    # first and last frames are not scored, so they need no prediction
    write_video(pred / "a", {"00001": both, "00002": labels(OBJ1_SHIFTED), "00003": both})
    write_video(gt / "b", {f"{t:05d}": labels((1, (12, 12, 4))) for t in range(3)})
    write_video(pred / "b", {"00001": labels((1, (12, 12, 4)))})
    return pred, gt


def run(*args: str):
    return runner.invoke(app, ["eval", *map(str, args)])


def test_davis_json(davis):
    result = run(*davis, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    a1, a2, b1 = summary["videos"]["a"]["1"], summary["videos"]["a"]["2"], summary["videos"]["b"]["1"]
    # object a/1: J = [1, 30/42, 1] (shifted 6x6 square), F = 1 throughout (1-pixel shift, radius 1)
    assert a1["J-Mean"] == pytest.approx((2 + 5 / 7) / 3)
    assert a1["J-Recall"] == 1.0
    assert a1["J-Decay"] == pytest.approx((1 + 5 / 7) / 2 - 1)  # bins for 3 frames: [0:2] ... [2:3]
    assert (a1["F-Mean"], a1["F-Recall"], a1["F-Decay"]) == (1.0, 1.0, 0.0)
    # object a/2 missing from frame 2 scores as empty: J = F = [1, 0, 1]
    for metric in "JF":
        assert a2[f"{metric}-Mean"] == pytest.approx(2 / 3)
        assert a2[f"{metric}-Recall"] == pytest.approx(2 / 3)
        assert a2[f"{metric}-Decay"] == pytest.approx(-0.5)
    assert b1 == {"J-Mean": 1.0, "J-Recall": 1.0, "J-Decay": 0.0, "F-Mean": 1.0, "F-Recall": 1.0, "F-Decay": 0.0}
    overall = summary["global"]
    assert list(overall) == ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    j_mean, f_mean = (a1["J-Mean"] + a2["J-Mean"] + 1) / 3, (1 + 2 / 3 + 1) / 3
    assert overall["J-Mean"] == pytest.approx(j_mean) and overall["F-Mean"] == pytest.approx(f_mean)
    assert overall["J&F-Mean"] == pytest.approx((j_mean + f_mean) / 2)


def test_davis_csv_and_table(davis, tmp_path):
    out = tmp_path / "scores.csv"
    result = run(*davis, "--csv", out)
    assert result.exit_code == 0, result.output
    assert "J&F" in result.stdout and "Recall" in result.stdout and "global" in result.stdout
    rows = list(csv.DictReader(out.open()))
    assert [(r["video"], r["object"]) for r in rows] == [
        ("global", ""),
        ("a", ""),
        ("b", ""),
        ("a", "1"),
        ("a", "2"),
        ("b", "1"),
    ]
    summary = json.loads(run(*davis, "--json").stdout)
    assert float(rows[0]["J&F-Mean"]) == pytest.approx(summary["global"]["J&F-Mean"], abs=1e-6)
    assert float(rows[5]["J-Mean"]) == 1.0
    assert not list(tmp_path.glob(".scores*"))  # no temporary file left behind


def test_single_video_folders_and_void(tmp_path):
    gt_frame = labels(OBJ1)
    gt_frame[15:17, 0:10] = 255  # a void band the prediction covers: background in DAVIS
    pred_frame = np.where(gt_frame > 0, 1, 0).astype(np.uint8)
    write_video(tmp_path / "gt" / "v", {"0": labels(OBJ1), "1": gt_frame, "2": labels(OBJ1)})
    write_video(tmp_path / "pred" / "v", {"1": pred_frame})
    result = run(tmp_path / "pred" / "v", tmp_path / "gt" / "v", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["videos"]["v"]["1"]
    assert scores["J-Mean"] == pytest.approx(36 / (36 + 20))
    assert scores["F-Mean"] == pytest.approx(f_measure(gt_frame == 1, pred_frame == 1, 1))
    assert scores["F-Mean"] < 1.0


def test_missing_prediction_frame(davis):
    pred, gt = davis
    (pred / "a" / "00002.png").unlink()
    result = run(pred, gt, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "00002.png" in result.stderr and "missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_size_mismatch(davis):
    pred, gt = davis
    write_palette_png(pred / "a" / "00002.png", np.zeros((10, 20), np.uint8))
    result = run(pred, gt)
    assert result.exit_code == 2
    assert "20x10" in result.stderr and "20x20" in result.stderr


def test_bad_folders(tmp_path, davis):
    pred, gt = davis
    assert run(tmp_path / "nope", gt).exit_code == 2
    assert run(pred, tmp_path / "nope").exit_code == 2
    (tmp_path / "empty").mkdir()
    result = run(pred, tmp_path / "empty")
    assert result.exit_code == 2 and "no PNG masks" in result.stderr
    assert run(pred, gt, "--csv", tmp_path / "no" / "dir.csv").exit_code == 2


def test_csv_never_overwrites_a_mask(davis):
    pred, gt = davis
    mask = next(gt.rglob("*.png"))
    before = mask.read_bytes()
    result = run(pred, gt, "--csv", mask)
    assert result.exit_code == 2 and "would overwrite an image of the input folder" in result.stderr
    assert mask.read_bytes() == before


def write_binary(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, mask in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.png"), mask.astype(np.uint8) * 255)


def test_referring_metrics(tmp_path):
    square = labels(OBJ1) > 0  # 36 pixels
    shifted = labels(OBJ1_SHIFTED) > 0  # IoU 30/42 with square
    empty = np.zeros_like(square)
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    # samples (IoU, I, U): (1, 36, 36), (5/7, 30, 42), (1, 0, 0) empty vs empty, (0, 0, 36) missed
    write_binary(gt / "v" / "q0", [square, square])
    write_binary(pred / "v" / "q0", [square, shifted])
    write_binary(gt / "v" / "q1", [empty, square])
    write_binary(pred / "v" / "q1", [empty, empty])
    result = run("--referring", pred, gt, "--json", "--csv", tmp_path / "r.csv")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"mIoU", "oIoU", "precision", "J&F"}
    assert summary["mIoU"] == pytest.approx((1 + 5 / 7 + 1 + 0) / 4)
    assert summary["oIoU"] == pytest.approx((36 + 30) / (36 + 42 + 36))
    # 5/7 = 0.714 counts for 0.5, 0.6 and 0.7 only
    assert summary["precision"] == pytest.approx({"0.5": 0.75, "0.6": 0.75, "0.7": 0.75, "0.8": 0.5, "0.9": 0.5})
    # q0: J = (1 + 5/7) / 2, F = 1; q1: J = 0.5, F = (1 + 0) / 2
    jf_q0, jf_q1 = ((1 + 5 / 7) / 2 + 1) / 2, 0.5
    assert summary["J&F"] == pytest.approx((jf_q0 + jf_q1) / 2)
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [(r["video"], r["query"]) for r in rows] == [("all", ""), ("v", "q0"), ("v", "q1")]
    assert float(rows[1]["J&F"]) == pytest.approx(jf_q0, abs=1e-6)


def test_referring_single_video_and_missing_query(tmp_path):
    square = labels(OBJ1) > 0
    write_binary(tmp_path / "gt" / "q0", [square])
    write_binary(tmp_path / "gt" / "q1", [square])
    write_binary(tmp_path / "pred" / "q0", [square])
    result = run("--referring", tmp_path / "pred", tmp_path / "gt")
    assert result.exit_code == 2 and "q1" in result.stderr
    write_binary(tmp_path / "pred" / "q1", [square])
    result = run("--referring", tmp_path / "pred", tmp_path / "gt", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mIoU"] == 1.0
    table = run("--referring", tmp_path / "pred", tmp_path / "gt").stdout
    assert "oIoU" in table and "P@0.9" in table and "q1" in table


def test_extra_prediction_ids_warn_and_count_as_background(davis):
    pred, gt = davis
    # video b's only object predicted under id 9, which its first frame does not have
    write_palette_png(pred / "b" / "00001.png", labels((9, (12, 12, 4))))
    result = run(pred, gt, "--json")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "ids up to 9" in result.stderr
    assert json.loads(result.stdout)["videos"]["b"]["1"]["J-Mean"] == 0.0
