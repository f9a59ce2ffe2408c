"""Batches: items from manifests and dataset layouts, shards, one model for every video, bad items skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rvos_cli.errors import EXIT_PARTIAL, InputError
from rvos_cli.models.flow.options import FlowOptions
from rvos_cli.pipelines.batch import BatchRequest, check_plan, propagate_request, run_batch
from rvos_cli.pipelines.items import (
    Item,
    davis_items,
    davis_root,
    expand_inputs,
    manifest_items,
    ytvos_expressions,
    ytvos_items,
)
from rvos_cli.pipelines.options import ClipOptions
from rvos_cli.pipelines.shards import parse_shard, shard
from rvos_cli.ui import Reporter
from rvos_cli.video import read_label_png, write_palette_png
from rvos_cli.video.synthetic import write_sample


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for name in ("a", "b", "c"):
        write_sample(folder / f"{name}.mp4", seconds=0.5, fps=8, width=64, height=48, audio=False)
    return folder


def test_manifest_rows_resolve_against_the_manifest_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.csv").write_text("input,text,masks\n../a.mp4,a cat|a dog,out/a\nb.mp4,a bird,\n")
    items = manifest_items(tmp_path / "sub" / "m.csv", "refer")
    assert [(i.name, i.input, i.texts, i.masks) for i in items] == [
        ("a", tmp_path / "a.mp4", ("a cat", "a dog"), tmp_path / "sub" / "out" / "a"),
        ("b", tmp_path / "sub" / "b.mp4", ("a bird",), None),
    ]
    lines = [{"input": "x.mp4", "mask": "x.png", "name": "first"}, {"input": "/abs/y", "mask": "masks/y"}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    items = manifest_items(tmp_path / "p.jsonl", "propagate")
    assert [(i.name, i.input, i.mask) for i in items] == [
        ("first", tmp_path / "x.mp4", tmp_path / "x.png"),
        ("y", Path("/abs/y"), tmp_path / "masks" / "y"),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("input,mask\n,x.png\n", "has no `input`"),
        ("input\nv.mp4\n", "has no `mask`"),
    ],
)
def test_a_bad_manifest_row_is_that_items_error(tmp_path, content, message):
    (tmp_path / "m.csv").write_text(content + "good.mp4,good.png\n" if "mask" in content else content)
    items = manifest_items(tmp_path / "m.csv", "propagate")
    assert items[0].name == "row 1" and message in items[0].error
    assert all(item.error is None for item in items[1:])


def test_a_folder_of_videos_stands_for_its_videos(clips, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    write_palette_png(frames / "00000.png", np.zeros((4, 4), np.uint8))
    assert expand_inputs([clips, frames]) == [clips / "a.mp4", clips / "b.mp4", clips / "c.mp4", frames]


def test_davis_and_ytvos_layouts(tmp_path):
    davis = tmp_path / "DAVIS"
    for video in ("dog", "bear"):
        (davis / "JPEGImages" / "480p" / video).mkdir(parents=True)
        (davis / "Annotations" / "480p" / video).mkdir(parents=True)
    assert davis_root(davis) == davis and davis_root(tmp_path) is None
    items = davis_items(davis, tmp_path / "out")
    assert [(i.name, i.mask, i.output) for i in items] == [
        ("bear", davis / "Annotations" / "480p" / "bear", tmp_path / "out" / "bear"),
        ("dog", davis / "Annotations" / "480p" / "dog", tmp_path / "out" / "dog"),
    ]
    ytvos = tmp_path / "ytvos"
    (ytvos / "valid" / "JPEGImages" / "v1").mkdir(parents=True)
    (ytvos / "meta_expressions" / "valid").mkdir(parents=True)
    meta = {"videos": {"v1": {"expressions": {"1": {"exp": "a cat"}, "0": {"exp": "A Dog "}}, "frames": ["00000"]}}}
    (ytvos / "meta_expressions" / "valid" / "meta_expressions.json").write_text(json.dumps(meta))
    assert ytvos_expressions(ytvos) is not None
    (item,) = ytvos_items(ytvos, tmp_path / "sub")
    assert (item.name, item.texts, item.ids) == ("v1", ("A Dog ", "a cat"), ("0", "1"))
    assert item.masks == tmp_path / "sub" / "Annotations" / "v1" and item.input == ytvos / "valid" / "JPEGImages" / "v1"


def test_shards_cover_every_item_once():
    items = [Item(f"video{i}", f"v{i}.mp4") for i in (3, 1, 6, 0, 2, 5, 4)]
    shards = [shard(items, i, 3) for i in (1, 2, 3)]
    names = sorted(item.name for part in shards for item in part)
    assert names == sorted(item.name for item in items) and [len(p) for p in shards] == [3, 2, 2]
    assert [i.name for i in shards[0]] == ["video0", "video3", "video6"]
    batch = BatchRequest("propagate", [Item("a", Path("x.mp4")), Item("a", Path("y.mp4"))], FlowOptions())
    with pytest.raises(InputError, match="share the name"):
        check_plan(batch, propagate_request)


def test_shard_from_flag_or_slurm():
    assert parse_shard("2/5", {}) == (2, 5)
    assert parse_shard("5/5", {}) == (5, 5)
    assert parse_shard(None, {}) == (1, 1)
    assert parse_shard(None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}) == (4, 4)
    assert parse_shard(
        None, {"SLURM_ARRAY_TASK_ID": "11", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13"}
    ) == (2, 4)
    assert parse_shard("1/2", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}) == (1, 2)  # the flag wins
    for bad in ("3/2", "x", "1/0", "0/3", "-1/3", "a/b", "1/2/3", "1.5/2"):
        with pytest.raises(InputError):
            parse_shard(bad, {})
    with pytest.raises(InputError, match="count from 1.*Playwright"):
        parse_shard("0/4", {})


def test_one_model_for_all_videos_a_bad_item_is_skipped_and_finished_ones_resume(clips, tmp_path):
    items = [Item(name, clips / f"{name}.mp4", mask=clips / f"{name}.mask.png") for name in ("a", "b", "c")]
    items[1] = Item("b", clips / "b.mp4", mask=tmp_path / "missing.png")
    batch = BatchRequest("propagate", items, FlowOptions(), clip=ClipOptions(max_seconds=0), out=tmp_path / "out")
    summary = run_batch(batch, Reporter(quiet=True))
    assert summary.done == ["a", "c"] and list(summary.failed) == ["b"] and summary.exit_code == EXIT_PARTIAL
    assert "missing.png" in summary.failed["b"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "c"]
    assert read_label_png(tmp_path / "out" / "a" / "00000.png").max() == 2

    again = run_batch(
        BatchRequest(
            "propagate", items, FlowOptions(), clip=ClipOptions(max_seconds=0), out=tmp_path / "out", skip_existing=True
        ),
        Reporter(quiet=True),
    )
    assert again.skipped == ["a", "c"] and again.done == [] and list(again.failed) == ["b"]


def rvos_process(*args, cwd, env=None):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "rvos_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_three_shards_as_separate_processes_equal_one_unsharded_run(tmp_path):
    """A 7-item manifest split by --shard (and by a Slurm array's variables) does every item once,
    with the same results as one process doing them all."""
    rows = []
    for i in range(7):
        write_sample(tmp_path / f"v{i}.mp4", seconds=0.4, fps=10, width=48, height=32, audio=False)
        rows.append(f"v{i}.mp4,v{i}.mask.png,item{i}")
    (tmp_path / "batch.csv").write_text("input,mask,name\n" + "\n".join(rows) + "\n")
    common = ["propagate", "--manifest", "batch.csv", "--model", "flow", "--json"]
    runs = [rvos_process(*common, "-o", "sharded", "--shard", f"{i}/3", cwd=tmp_path) for i in (1, 2)]
    runs.append(
        rvos_process(
            *common, "-o", "sharded", cwd=tmp_path, env={"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"}
        )
    )
    whole = rvos_process(*common, "-o", "whole", cwd=tmp_path)
    assert all(run.returncode == 0 for run in [*runs, whole]), [run.stderr for run in runs]
    done = [json.loads(line)["name"] for run in runs for line in run.stdout.splitlines()[:-1]]
    assert sorted(done) == [f"item{i}" for i in range(7)]  # each exactly once
    assert [json.loads(run.stdout.splitlines()[-1])["shard"] for run in runs] == ["1/3", "2/3", "3/3"]
    for i in range(7):
        for frame in sorted((tmp_path / "whole" / f"item{i}").iterdir()):
            sharded = tmp_path / "sharded" / f"item{i}" / frame.name
            assert np.array_equal(read_label_png(sharded), read_label_png(frame))


def test_batch_exit_codes_and_errors(tmp_path):
    write_sample(tmp_path / "a.mp4", seconds=0.3, fps=10, width=48, height=32, audio=False)
    result = rvos_process("refer", "a.mp4", "a.mp4", "--manifest", "x.csv", cwd=tmp_path)
    assert result.returncode == 2 and "either INPUT paths or --manifest" in result.stderr
    result = rvos_process("propagate", "a.mp4", tmp_path / "a.mp4", "--mask", "a.mask.png", cwd=tmp_path)
    assert result.returncode == 2 and "--mask is a folder" in result.stderr
    result = rvos_process("propagate", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: give the video")


def test_a_source_decoded_ahead_yields_every_frame_once_per_pass(clips):
    from rvos_cli.pipelines.sources import open_ahead

    source = open_ahead(clips / "a.mp4", ClipOptions(max_seconds=0), 3)
    assert len(source._head) == 3  # decoded when built
    first = [(i, f.sum()) for i, f in source]
    again = [(i, f.sum()) for i, f in source]
    assert [i for i, _ in first] == list(range(source.info.num_frames)) and first == again
