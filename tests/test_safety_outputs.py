"""Issue 19: an output never lands on an input however either is spelled, names read from data
files never leave their root, and a batch's whole plan is checked before its first item."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.video import read_label_png, write_palette_png


@pytest.fixture
def work(tiny_work):
    """tiny_work plus frames/: 3 PNG frames of the clip's size."""
    (tiny_work / "frames").mkdir()
    for i in range(3):
        write_palette_png(tiny_work / "frames" / f"{i:05d}.png", np.full((48, 64), i, np.uint8))
    return tiny_work


def rvos(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- one run: an output spelled differently from the input it would replace -------------------


def _sibling(work):
    (work / "sib").mkdir()
    os.chdir(work / "sib")
    return [work / "frames", "--mask", "../clip.mask.png", "-o", "../frames"]


def _dotdot_video(work):
    (work / "sub").mkdir()
    return ["clip.mp4", "--mask", "clip.mask.png", "-o", "out", "--video", "sub/../clip.mp4"]


def _symlinked_parent(work):
    (work / "link").symlink_to(work)
    return ["clip.mp4", "--mask", "clip.mask.png", "-o", "out", "--video", "link/clip.mp4"]


def _hard_link(work):
    os.link(work / "clip.mp4", work / "same.mp4")
    return ["clip.mp4", "--mask", "clip.mask.png", "-o", "out", "--video", "same.mp4"]


def _folder_through_a_link(work):
    (work / "masks-link").symlink_to(work / "frames")
    return ["frames", "--mask", "clip.mask.png", "-o", "masks-link"]


def _output_holds_the_input(work):
    (work / "sub").mkdir()
    return ["clip.mp4", "--mask", "clip.mask.png", "-o", "sub/.."]


def _input_through_a_link(work):
    (work / "f").symlink_to(work / "frames")
    return ["f", "--mask", "clip.mask.png", "-o", "./frames/"]


ALIASES = {
    "-o ../frames from a sibling folder": _sibling,
    "--video sub/../clip.mp4": _dotdot_video,
    "--video through a symlinked parent": _symlinked_parent,
    "--video a hard link of the input": _hard_link,
    "-o a symlink to the frames folder": _folder_through_a_link,
    "-o a folder holding the input": _output_holds_the_input,
    "the input through a link, -o its real path": _input_through_a_link,
}


@pytest.mark.parametrize("case", ALIASES, ids=list(ALIASES))
def test_an_output_that_is_an_input_spelled_another_way_is_refused_before_any_work(work, case):
    args = ALIASES[case](work)
    before = snapshot(work)
    result = rvos("propagate", *args, "--model", "flow")
    assert result.exit_code == 2, result.output
    assert "would overwrite" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert snapshot(work) == before


def test_refer_masks_through_a_symlink_to_the_frames_is_refused_before_weights(work):
    (work / "m").symlink_to(work / "frames")
    before = snapshot(work)
    result = rvos("refer", "frames", "-t", "a dog", "--masks", "m/.", "-o", "o.mp4")
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr, result.output
    assert snapshot(work) == before


def test_eval_csv_through_a_symlink_into_the_ground_truth_is_refused(work):
    for root in ("gt", "pred"):
        (work / root / "v").mkdir(parents=True)
        for t in range(3):
            write_palette_png(work / root / "v" / f"{t:05d}.png", np.ones((8, 8), np.uint8))
    (work / "gtlink").symlink_to(work / "gt" / "v")
    (work / "scores.csv").symlink_to(work / "gt" / "v" / "00002.png")
    before = snapshot(work / "gt")
    for csv_path in ("gtlink/00001.png", "gtlink/new.png", "scores.csv"):
        result = rvos("eval", "pred", "gt", "--csv", csv_path)
        assert result.exit_code == 2 and "input folder" in result.stderr, (csv_path, result.output)
    assert snapshot(work / "gt") == before


# --- names read from data files ---------------------------------------------------------------


BAD_NAMES = ["../../escaped", "{absolute}", "a\\b", "..", ".", "a\u0000b", "tab\there"]


def test_manifest_names_that_are_not_one_file_name_fail_that_row_alone(work):
    absolute = work.parent / f"{work.name}-escaped"
    rows = [
        {"input": "clip.mp4", "mask": "clip.mask.png", "name": name.format(absolute=absolute)} for name in BAD_NAMES
    ]
    rows.append({"input": "clip.mp4", "mask": "clip.mask.png", "name": "good"})
    (work / "m.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    result = rvos("propagate", "--manifest", "m.jsonl", "-o", "out/deep", "--model", "flow", "--json")
    assert result.exit_code == 6, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["done"] == 1 and len(summary["failed"]) == len(BAD_NAMES)
    assert all("plain file name" in failure["error"] for failure in summary["failed"])
    assert sorted(os.listdir(work / "out" / "deep")) == ["good"]
    assert sorted(os.listdir(work / "out")) == ["deep"] and not absolute.exists()


def test_ytvos_ids_that_leave_the_root_fail_that_video_alone(work):
    root = work / "ytvos"
    (root / "valid" / "JPEGImages" / "v1").mkdir(parents=True)
    videos = {
        "../../vid": {"expressions": {"0": {"exp": "a cat"}}},
        "v1": {"expressions": {"../x": {"exp": "a cat"}}},
        "v2": {"expressions": {"a/b": {"exp": "a dog"}}},
        "v3": {"expressions": {"10": {"exp": "b"}, "2": {"exp": "a"}, "x": {"exp": "c"}}},
    }
    (root / "meta_expressions.json").write_text(json.dumps({"videos": videos}))
    from rvos_cli.pipelines.items import ytvos_items

    items = {item.name: item for item in ytvos_items(root, work / "sub")}
    assert all(items[name].error and "plain file name" in items[name].error for name in ("../../vid", "v1", "v2"))
    assert items["v3"].error is None and items["v3"].ids == ("2", "10", "x")  # numbers and words sort together
    assert items["v3"].masks == work / "sub" / "Annotations" / "v3"


def test_davis_folder_names_are_checked(work):
    root = work / "DAVIS"
    for video in ("bear", "a\\b"):
        (root / "JPEGImages" / "480p" / video).mkdir(parents=True)
        (root / "Annotations" / "480p" / video).mkdir(parents=True)
    from rvos_cli.pipelines.items import davis_items

    items = davis_items(root, work / "out")
    assert [(item.name, item.error is None) for item in items] == [("a\\b", False), ("bear", True)]


# --- the whole plan of a batch, before its first item ------------------------------------------


def test_two_rows_writing_one_output_are_refused_before_any_work(work):
    (work / "link").symlink_to(work)
    rows = "input,mask,name,output\nclip.mp4,clip.mask.png,a,res\nclip.mp4,clip.mask.png,b,link/res\n"
    (work / "m.csv").write_text(rows)
    before = snapshot(work)
    result = rvos("propagate", "--manifest", "m.csv", "--model", "flow")
    assert result.exit_code == 2 and "would both write" in result.stderr, result.output
    assert snapshot(work) == before


def test_one_rows_output_that_is_another_rows_input_is_refused(work):
    shutil.copytree(work / "frames", work / "frames2")
    rows = "input,mask,name,output\nframes,clip.mask.png,a,frames2/.\nframes2,clip.mask.png,b,\n"
    (work / "m.csv").write_text(rows)
    before = snapshot(work)
    result = rvos("propagate", "--manifest", "m.csv", "--model", "flow", "-o", "out")
    assert result.exit_code == 2 and "the input" in result.stderr and "of b" in result.stderr, result.output
    assert snapshot(work) == before
    (work / "m.csv").write_text("input,mask,name,output\nclip.mp4,clip.mask.png,a,m.csv\n")
    result = rvos("propagate", "--manifest", "m.csv", "--model", "flow")
    assert result.exit_code == 2 and "which the batch was read from" in result.stderr, result.output


@pytest.mark.timeout(60)
def test_the_plan_of_40000_rows_is_checked_in_linear_time(tmp_path):
    """The duplicate-name check was quadratic (33 s for 40,000 rows); every check is now a dictionary
    lookup per path, so this plan takes seconds even on a busy machine."""
    from rvos_cli.models.flow.options import FlowOptions
    from rvos_cli.pipelines.batch import BatchRequest, check_plan, propagate_request
    from rvos_cli.pipelines.items import Item, manifest_items

    rows = "\n".join(f"v/{i}.mp4,m/{i}.png,item{i}" for i in range(40_000))
    (tmp_path / "big.csv").write_text("input,mask,name\n" + rows + "\n")
    items = manifest_items(tmp_path / "big.csv", "propagate")
    batch = BatchRequest("propagate", items, FlowOptions(), out=tmp_path / "out", sources=(tmp_path / "big.csv",))
    check_plan(batch, propagate_request)
    duplicated = BatchRequest("propagate", [*items, Item("item7", Path("x.mp4"))], FlowOptions(), out=tmp_path)
    with pytest.raises(Exception, match="share the name 'item7'"):
        check_plan(duplicated, propagate_request)


# --- the batch's own folders -------------------------------------------------------------------


def test_a_batch_output_that_is_an_existing_file_is_exit_2_before_any_work(work):
    (work / "out").write_text("precious")
    result = rvos("propagate", "clip.mp4", "frames", "--mask", ".", "-o", "out", "--model", "flow")
    assert result.exit_code == 2 and "-o" in result.stderr and "existing file" in result.stderr, result.output
    assert (work / "out").read_text() == "precious"


def test_a_batch_output_on_a_read_only_file_system_is_exit_5(work, monkeypatch):
    real = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.name == "out":
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    shutil.copy(work / "clip.mask.png", work / "frames.png")
    result = rvos("propagate", "clip.mp4", "frames", "--mask", ".", "-o", "out", "--model", "flow")
    assert result.exit_code == 5 and "Read-only file system" in result.stderr, result.output
    assert "Traceback" not in result.output


def test_a_zero_byte_mask_fails_its_video_alone(work):
    (work / "masks").mkdir()
    shutil.copy(work / "clip.mask.png", work / "masks" / "clip.png")
    (work / "masks" / "frames.png").write_bytes(b"")
    result = rvos("propagate", "clip.mp4", "frames", "--mask", "masks", "-o", "out", "--model", "flow", "--json")
    assert result.exit_code == 6, result.output
    failed = json.loads(result.stdout.splitlines()[-1])["failed"]
    assert [f["name"] for f in failed] == ["frames"] and "empty (0 bytes)" in failed[0]["error"]
    assert read_label_png(work / "out" / "clip" / "00000.png").max() == 2
    alone = rvos("propagate", "frames", "--mask", "masks/frames.png", "--model", "flow")
    assert alone.exit_code == 2 and "empty (0 bytes)" in alone.stderr
