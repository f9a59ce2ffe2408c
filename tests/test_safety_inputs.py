"""Issue 19 (and 24, items 2 and 9): hostile or unusual input files are one clear error, never a
huge allocation, a wrong reading, or the end of a whole batch."""

from __future__ import annotations

import json
import shutil
import struct
import threading
import zlib

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import rvos
from rvos_cli.cli import app
from rvos_cli.errors import InputError
from rvos_cli.video import read_label_png, write_palette_png


def rvos_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def sample(tiny_clip):
    return tiny_clip


@pytest.fixture
def work(tiny_work):
    return tiny_work


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, colour_type: int, rows: bytes, palette: bytes | None = None, depth=8, extra=b""):
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
    plte = chunk(b"PLTE", palette) if palette is not None else b""
    return b"\x89PNG\r\n\x1a\n" + header + plte + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A small PNG that declares width x height pixels (its data would inflate to that many bytes)."""
    return png(width, height, 0, b"\0" * (width + 1))


@pytest.fixture
def decodes(monkeypatch):
    """The number of pixels OpenCV was asked to decode, per call: a bomb must never get there."""
    sizes = []
    real = cv2.imdecode

    def spy(buffer, flags):
        data = bytes(buffer[:24])
        width, height = struct.unpack(">II", data[16:24]) if data.startswith(b"\x89PNG") else (0, 0)
        sizes.append(width * height)  # what the PNG declares, decoded or not
        return real(buffer, flags)

    monkeypatch.setattr(cv2, "imdecode", spy)
    return sizes


# --- decompression bombs ----------------------------------------------------------------------


def test_a_png_bomb_is_refused_from_its_header_by_read_mask_eval_and_propagate(work, decodes):
    (work / "bomb.png").write_bytes(bomb())
    with pytest.raises(InputError, match="30000x30000 pixels, over the limit"):
        rvos.read_mask(work / "bomb.png")
    # A mask for the 64x48 clip: the right aspect ratio, but 500 times its width.
    (work / "wide.png").write_bytes(bomb(32000, 24000))
    result = rvos_cli("propagate", "clip.mp4", "--mask", "wide.png", "--model", "flow")
    assert result.exit_code == 2 and "over the limit" in result.stderr, result.output
    for root in ("gt", "pred"):
        (work / root / "v").mkdir(parents=True)
        for t in range(3):
            write_palette_png(work / root / "v" / f"{t:05d}.png", np.ones((8, 8), np.uint8))
    (work / "pred" / "v" / "00001.png").write_bytes(bomb(8 * 3000, 8 * 3000))
    result = rvos_cli("eval", "pred", "gt")
    assert result.exit_code == 2 and "24000x24000" in result.stderr, result.output
    (work / "gt" / "v" / "00001.png").write_bytes(bomb())
    result = rvos_cli("eval", "pred", "gt")
    assert result.exit_code == 2 and "over the limit" in result.stderr, result.output
    assert max(decodes, default=0) < 10_000  # only the small PNGs were decoded


def test_a_bomb_frame_is_refused_before_it_is_decoded(work, decodes):
    (work / "frames").mkdir()
    for i in range(2):
        cv2.imwrite(str(work / "frames" / f"{i}.png"), np.zeros((48, 64, 3), np.uint8))
    (work / "frames" / "2.png").write_bytes(bomb(40000, 20000))
    result = rvos_cli("propagate", "frames", "--mask", "clip.mask.png", "--model", "flow", "-o", "out")
    assert result.exit_code == 2 and "frame" in result.stderr and "40000x20000" in result.stderr, result.output
    assert max(decodes) < 10_000 and not (work / "out").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["propagate", "clip.mp4", "--mask", "clip.mask.png", "--size", "1000000"],
        ["propagate", "clip.mp4", "--mask", "clip.mask.png", "--model", "rdevos", "--size", "70000"],
        ["refer", "clip.mp4", "-t", "a cat", "--size", "100000"],
        ["bench", "propagate", "--model", "flow", "--clip-size", "100000x100000"],
        ["bench", "refer", "--model", "none", "--size", "9000x16000"],
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_up_front(work, args):
    result = rvos_cli(*args)
    assert result.exit_code == 2 and "cannot fit in memory" in result.stderr, result.output


# --- what a mask file says --------------------------------------------------------------------


def test_a_palette_that_repeats_a_colour_keeps_its_objects_apart(tmp_path):
    ids = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8)
    palette = bytes([0, 0, 0, 255, 0, 0, 255, 0, 0, 0, 255, 0])  # ids 1 and 2 are both red
    rows = b"".join(b"\0" + row.tobytes() for row in ids)
    transparency = chunk(b"tRNS", bytes([0, 255, 255, 255]))
    (tmp_path / "p.png").write_bytes(png(4, 2, 3, rows, palette, extra=transparency))
    np.testing.assert_array_equal(read_label_png(tmp_path / "p.png"), ids)
    # 2 bits per pixel, four indices packed in a byte
    packed = bytes([0, 0b00011011, 0, 0b11100100])
    (tmp_path / "p2.png").write_bytes(png(4, 2, 3, packed, palette, depth=2))
    np.testing.assert_array_equal(read_label_png(tmp_path / "p2.png"), ids)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_an_empty_or_truncated_png_is_exit_2_everywhere(work, content):
    (work / "bad.png").write_bytes(content)
    with pytest.raises(InputError):
        rvos.read_mask(work / "bad.png")
    result = rvos_cli("propagate", "clip.mp4", "--mask", "bad.png", "--model", "flow")
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "bad.png" in result.stderr


# --- manifests --------------------------------------------------------------------------------


def test_a_csv_manifest_is_read_as_the_csv_module_does(tmp_path):
    from rvos_cli.pipelines.items import manifest_items

    text = 'input,text,name\nclip.mp4,"a dog\nrunning|a cat",first\n'
    (tmp_path / "m.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # a byte-order mark, as Excel writes
    (item,) = manifest_items(tmp_path / "m.csv", "refer")
    assert item.error is None and item.name == "first" and item.texts == ("a dog\nrunning", "a cat")
    (tmp_path / "m.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"input": "clip.mp4", "text": "x"}).encode())
    assert manifest_items(tmp_path / "m.jsonl", "refer")[0].texts == ("x",)


def test_json_lines_rows_whose_text_is_not_text_fail_alone(tmp_path):
    from rvos_cli.pipelines.items import manifest_items

    rows = [{"input": "a.mp4", "text": 5}, {"input": "b.mp4", "text": ["ok", 3]}, {"input": "c.mp4", "text": {}}]
    rows += [{"input": 7, "text": "x"}, [1, 2], {"input": "d.mp4", "text": ["a dog", "a cat"]}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\nnot json\n")
    items = manifest_items(tmp_path / "m.jsonl", "refer")
    assert [item.error is None for item in items] == [False, False, False, False, False, True, False]
    assert items[5].texts == ("a dog", "a cat") and "not JSON" in items[6].error
    assert "`text`" in items[0].error and "`input`" in items[3].error


def test_a_ytvos_batch_with_bad_expression_ids_runs_the_other_videos(work):
    root = work / "ytvos"
    frames = root / "valid" / "JPEGImages"
    for video in ("good", "bad"):
        (frames / video).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(frames / video / f"{i:05d}.jpg"), np.zeros((48, 64, 3), np.uint8))
    videos = {
        "good": {"expressions": {"1": {"exp": "b"}, "x": {"exp": "a"}}},
        "bad": {"expressions": {"a/b": {"exp": "c"}}},
    }
    (root / "meta_expressions.json").write_text(json.dumps({"videos": videos}))
    result = rvos_cli("refer", root, "-o", work / "sub", "--model", "mttr", "--json")
    # no MTTR weights here: the plan and the items are checked first, then weights are missing (exit 3)
    assert result.exit_code == 3, result.output
    from rvos_cli.pipelines.items import ytvos_items

    items = {item.name: item for item in ytvos_items(root, work / "sub")}
    assert items["good"].ids == ("1", "x") and "contains a '/'" in items["bad"].error


@pytest.mark.parametrize(
    "meta, field",
    [({}, "videos"), ({"videos": {"v": {}}}, "expressions"), ({"videos": {"v": {"expressions": {"0": {}}}}}, "exp")],
)
def test_a_malformed_meta_expressions_json_is_exit_2_naming_the_missing_field(work, meta, field):
    (work / "ytvos" / "valid" / "JPEGImages").mkdir(parents=True)
    (work / "ytvos" / "meta_expressions.json").write_text(json.dumps(meta))
    result = rvos_cli("refer", work / "ytvos", "-o", work / "sub")
    assert result.exit_code == 2 and f"no `{field}` field" in result.stderr, result.output


# --- times and shards -------------------------------------------------------------------------


@pytest.mark.parametrize("time", ["1:99", "0:60", "1:60:00", "2:75.5", "1:2:3:4", "1.5:00"])
def test_a_clock_time_with_an_impossible_field_is_refused(work, time):
    result = rvos_cli("propagate", "clip.mp4", "--mask", "clip.mask.png", "--end", time, "--model", "flow")
    assert result.exit_code == 2 and "--end" in result.stderr and "is after the end" not in result.stderr, result.output
    assert not (work / "clip.masks").exists()


@pytest.mark.parametrize("shard", ["a/b", "1/2", "0/1"])
def test_shard_on_a_single_run_is_refused_not_ignored(work, shard):
    result = rvos_cli("propagate", "clip.mp4", "--mask", "clip.mask.png", "--shard", shard, "--model", "flow")
    assert result.exit_code == 2 and "--shard" in result.stderr, result.output
    assert not (work / "clip.masks").exists()


def test_shard_zero_names_the_convention(work):
    shutil.copy(work / "clip.mp4", work / "b.mp4")
    result = rvos_cli("propagate", "clip.mp4", "b.mp4", "--mask", ".", "--shard", "0/2", "--model", "flow")
    assert result.exit_code == 2 and "count from 1" in result.stderr and "Playwright" in result.stderr


def slurm_array(first: int, last: int, step: int, with_step: bool = True) -> list[dict[str, str]]:
    """The environment of every task of `--array=first-last:step`, as Slurm sets it."""
    ids = list(range(first, last + 1, step))
    common = {"SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_MAX": str(ids[-1])}
    common["SLURM_ARRAY_TASK_COUNT"] = str(len(ids))
    if with_step:
        common["SLURM_ARRAY_TASK_STEP"] = str(step)
    return [{**common, "SLURM_ARRAY_TASK_ID": str(task)} for task in ids]


@pytest.mark.parametrize(
    "first, last, step, with_step", [(0, 4, 2, True), (3, 30, 7, True), (0, 4, 2, False), (1, 5, 1, True)]
)
def test_every_item_is_owned_by_exactly_one_task_of_a_stepped_slurm_array(first, last, step, with_step):
    from rvos_cli.pipelines.shards import parse_shard, shard

    items = [f"video{i:02d}" for i in range(11)]
    owned = [shard(items, *parse_shard(None, env), key=str) for env in slurm_array(first, last, step, with_step)]
    assert all(owned) and sorted(sum(owned, [])) == items


@pytest.mark.parametrize(
    "env",
    [
        {"SLURM_ARRAY_TASK_ID": "abc", "SLURM_ARRAY_TASK_COUNT": "3"},
        {
            "SLURM_ARRAY_TASK_ID": "3",
            "SLURM_ARRAY_TASK_MIN": "1",
            "SLURM_ARRAY_TASK_MAX": "7",
            "SLURM_ARRAY_TASK_COUNT": "3",
        },
        {
            "SLURM_ARRAY_TASK_ID": "1",
            "SLURM_ARRAY_TASK_MIN": "0",
            "SLURM_ARRAY_TASK_MAX": "4",
            "SLURM_ARRAY_TASK_STEP": "2",
        },
    ],
    ids=["non-numeric id", "a list array (1,3,7)", "an id off the step"],
)
def test_a_slurm_task_that_cannot_own_a_shard_is_exit_2(work, env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    shutil.copy(work / "clip.mp4", work / "b.mp4")
    result = rvos_cli("propagate", "clip.mp4", "b.mp4", "--mask", ".", "--model", "flow", "-o", "out")
    assert result.exit_code == 2 and "SLURM" in result.stderr.upper(), result.output


# --- rvos eval: a stray PNG beside the video folders ------------------------------------------


def test_a_stray_png_beside_the_video_folders_is_warned_about_not_taken_for_a_video(work):
    for root in ("gt", "pred"):
        for video in ("carphone", "bikes"):
            (work / root / video).mkdir(parents=True)
            for t in range(3):
                write_palette_png(work / root / video / f"{t:05d}.png", np.ones((8, 8), np.uint8))
    write_palette_png(work / "gt" / "check.png", np.ones((8, 8), np.uint8))
    write_palette_png(work / "pred" / "check.png", np.ones((8, 8), np.uint8))
    result = rvos_cli("eval", "pred", "gt", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["videos"]) == ["bikes", "carphone"]
    assert result.stderr.count("warning: ignored 1 stray PNG") == 2 and "check.png" in result.stderr


# --- the Python API ---------------------------------------------------------------------------


def test_two_track_streams_on_one_propagator_never_mix(sample):
    video, mask = sample
    first = rvos.read_mask(mask)
    tracker = rvos.Propagator("flow")
    alone = [labels for _, labels in tracker.track(video, first)]
    one, two = tracker.track(video, first), tracker.track(video, first)
    next(one)
    with pytest.raises(rvos.InputError, match="already tracking"):
        next(two)
    errors = []
    thread = threading.Thread(
        target=lambda: errors.append(pytest.raises(rvos.InputError, list, tracker.track(video, first)))
    )
    thread.start()
    thread.join()
    assert errors and errors[0].match("already tracking")
    rest = [labels for _, labels in one]
    assert all(np.array_equal(a, b) for a, b in zip(alone[1:], rest)) and len(rest) == len(alone) - 1
    assert all(np.array_equal(a, b) for a, (_, b) in zip(alone, tracker.track(video, first)))  # free again


@pytest.mark.parametrize("value", [256, -1, 1.5])
def test_mask_ids_outside_0_255_are_refused_not_wrapped(sample, value):
    video, mask = sample
    labels = rvos.read_mask(mask).astype(np.float64)
    labels[0, 0] = value
    with pytest.raises(rvos.InputError):
        rvos.Propagator("flow").track(video, labels)


def test_texts_one_string_is_one_query_and_bad_values_are_input_errors():
    referrer = object.__new__(rvos.Referrer)  # the texts are checked before the model is used
    referrer._segment = lambda video, texts, *rest: iter([texts])
    assert next(referrer.segment("clip.mp4", "abc")) == ["abc"]
    for bad in ([], [None], [""], ["ok", 3], None, 7, {"a"}):
        with pytest.raises(rvos.InputError):
            referrer.segment("clip.mp4", bad)
