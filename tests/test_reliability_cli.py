"""Issue 11: one `error:` line and a documented exit code for every failure, outputs checked before work."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.errors import EXIT_CODES, OutputError
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.rdevos.layout import layout
from rvos_cli.video import open_video
from rvos_cli.video.synthetic import write_sample

runner = CliRunner()


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reliability")
    torch.save(random_state_dict(layout(), seed=3), folder / "model_s012_final.pth")
    write_sample(folder / "clip.mp4", seconds=0.5, fps=24, width=96, height=64, audio=True)
    return folder


def rdevos(assets, *args):
    return [
        "propagate",
        str(assets / "clip.mp4"),
        "--mask",
        str(assets / "clip.mask.png"),
        "--model",
        "rdevos",
        "--checkpoint",
        str(assets / "model_s012_final.pth"),
        "--device",
        "cpu",
        *args,
    ]


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr  # notes may come first
    assert "Traceback" not in result.output
    return errors[0]


def no_parts(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if ".part" in p.name], list(folder.rglob("*"))


# --- click's usage errors, --version, the exit-code table ------------------------------------


@pytest.mark.parametrize(
    "args, text",
    [
        (["eval"], "missing argument 'pred'"),
        (["propagate", "clip.mp4", "--mask", "m.png", "--bogus"], "No such option: --bogus"),
        (["propagate", "clip.mp4", "--mask", "m.png", "--size", "abc"], "Invalid value for '--size'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(args, text):
    line = one_error_line(runner.invoke(app, args), 2)
    assert text.lower() in line.lower() and "--help" in line


def test_help_still_works_and_lists_every_exit_code():
    result = runner.invoke(app, ["propagate", "--help"])
    assert result.exit_code == 0 and "--mask" in result.output
    text = " ".join(result.output.split())
    for code in EXIT_CODES:
        assert f" {code} " in text


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("rvos ")


def test_an_unexpected_error_is_one_line_and_exit_1_with_the_traceback_behind_rvos_debug(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr("rvos_cli.pipelines.sample.run_sample", boom)
    monkeypatch.delenv("RVOS_DEBUG", raising=False)
    line = one_error_line(runner.invoke(app, ["sample", str(tmp_path / "s.mp4")]), 1)
    assert "RuntimeError: something broke" in line and "RVOS_DEBUG=1" in line
    monkeypatch.setenv("RVOS_DEBUG", "1")
    result = runner.invoke(app, ["sample", str(tmp_path / "s.mp4")])
    assert isinstance(result.exception, RuntimeError)


# --- output paths checked before any work -----------------------------------------------------


def test_video_that_is_an_existing_folder_is_refused_before_any_work(assets, tmp_path):
    (tmp_path / "v.mp4").mkdir()
    line = one_error_line(
        runner.invoke(app, rdevos(assets, "-o", str(tmp_path / "m"), "--video", str(tmp_path / "v.mp4"))), 2
    )
    assert "existing folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_refer_output_that_is_an_existing_folder_is_refused_at_once(assets, tmp_path):
    (tmp_path / "out.mp4").mkdir()
    line = one_error_line(
        runner.invoke(app, ["refer", str(assets / "clip.mp4"), "-t", "x", "-o", str(tmp_path / "out.mp4")]), 2
    )
    assert "existing folder" in line


def test_sample_into_an_existing_folder_is_refused(tmp_path):
    (tmp_path / "s.mp4").mkdir()
    line = one_error_line(runner.invoke(app, ["sample", str(tmp_path / "s.mp4")]), 2)
    assert "existing folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp4"]


@pytest.mark.parametrize("flag", ["--video", "-o"])
def test_an_unknown_video_container_is_refused_up_front(assets, tmp_path, flag):
    command = rdevos(assets, "--video", str(tmp_path / "x.webm")) if flag == "--video" else None
    if command is None:
        command = ["refer", str(assets / "clip.mp4"), "-t", "x", "-o", str(tmp_path / "x.webm")]
    line = one_error_line(runner.invoke(app, command), 2)
    assert "unknown video container '.webm'" in line and ".mkv" in line
    assert list(tmp_path.iterdir()) == []


MAGIC = {".mkv": (0, b"\x1a\x45\xdf\xa3"), ".avi": (8, b"AVI "), ".mov": (4, b"ftypqt"), ".mp4": (4, b"ftyp")}


@pytest.mark.parametrize("suffix", [".mkv", ".avi", ".mov"])
def test_the_overlay_container_follows_the_extension(assets, tmp_path, suffix):
    video = tmp_path / f"overlay{suffix}"
    result = runner.invoke(app, rdevos(assets, "-o", str(tmp_path / "m"), "--video", str(video), "-q"))
    assert result.exit_code == 0, result.output
    offset, magic = MAGIC[suffix]
    assert video.read_bytes()[offset : offset + len(magic)] == magic
    source = open_video(video)
    assert source.info.num_frames == 12 and source.info.has_audio


# --- OSError on output: one line naming the path, exit 5, nothing left -----------------------


def test_a_full_disk_while_writing_mask_pngs_is_exit_5_and_leaves_nothing(assets, tmp_path, monkeypatch):
    real = Path.write_bytes

    def full(self, data):
        if self.suffix == ".png" and ".part" in self.parent.name and self.stem == "00003":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    result = runner.invoke(app, rdevos(assets, "-o", str(tmp_path / "m"), "--video", str(tmp_path / "v.mp4")))
    line = one_error_line(result, 5)
    assert f"cannot write {tmp_path / 'm' / '00003.png'}: No space left on device" in line
    assert list(tmp_path.iterdir()) == []


def test_binary_masks_and_video_writers_turn_oserrors_into_output_errors(tmp_path, monkeypatch):
    from rvos_cli.video import BinaryMaskWriter, Mp4Writer

    def denied(self, data):
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", denied)
        with pytest.raises(OutputError, match=r"cannot write .*masks/0/a.png: Permission denied"):
            with BinaryMaskWriter(tmp_path / "masks", ["a"], queries=1) as writer:
                writer.write(0, np.ones((1, 4, 4), np.uint8))
    with pytest.raises(OutputError, match="ffmpeg could not write"):
        with Mp4Writer(tmp_path / "v.mp4", 16, 16, 10) as writer:
            writer._process.kill()
            writer._process.wait()
            for _ in range(100):
                writer.write(np.zeros((16, 16, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


# --- file names that are not UTF-8 -----------------------------------------------------------


def test_a_video_name_that_is_not_utf8_works(assets, tmp_path):
    name = tmp_path / os.fsdecode(b"caf\xe9_\xff.mp4")
    name.write_bytes((assets / "clip.mp4").read_bytes())
    source = open_video(name)
    assert source.info.num_frames == 12 and source.info.has_audio
    assert sum(1 for _ in source) == 12
    command = rdevos(assets, "--json")
    command[1] = os.fspath(name)
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(list(Path(os.fsdecode(os.fsencode(out["outputs"]["masks"]))).glob("*.png"))) == 12


# --- RDE-VOS: auto says why, and a small clip is not upscaled -------------------------------


def test_rdevos_does_not_upscale_a_small_clip_and_says_so(assets, tmp_path):
    result = runner.invoke(app, rdevos(assets, "-o", str(tmp_path / "m")))
    assert result.exit_code == 0, result.output
    assert "working at 96x64 (not upscaled to 480; pass --size 480 to upscale)" in result.stderr
    result = runner.invoke(app, rdevos(assets, "-o", str(tmp_path / "m"), "--size", "128"))
    assert result.exit_code == 0, result.output
    assert "working at 192x128" in result.stderr


# --- the weights cache ------------------------------------------------------------------------


def test_cache_dir_reaches_propagate_and_installed_files_respect_the_umask(assets, tmp_path, monkeypatch):
    checkpoint = assets / "model_s012_final.pth"
    data = checkpoint.read_bytes()
    registry = tmp_path / "weights.yaml"
    entry = {
        "model": "rdevos",
        "task": "propagate",
        "description": "test",
        "files": [
            {
                "path": "model_s012_final.pth",
                "role": "checkpoint",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "urls": ["https://example.invalid/model_s012_final.pth"],
            }
        ],
    }
    registry.write_text(yaml.safe_dump({"tiny-rdevos": entry}))
    monkeypatch.setenv("RVOS_REGISTRY", str(registry))
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "default-home"))
    cache = tmp_path / "cache"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["download", "tiny-rdevos", "--from", str(checkpoint), "--cache-dir", str(cache)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for path in cache.rglob("*"):
        if path.is_file() and not path.name.endswith(".lock"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    command = rdevos(assets, "-o", str(tmp_path / "m"), "--json", "--cache-dir", str(cache))
    auto = [a for a in command if a not in ("--checkpoint", str(checkpoint))]
    auto[auto.index("rdevos")] = "auto"
    result = runner.invoke(app, auto)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["options"]["weights"] == "tiny-rdevos"
    without = runner.invoke(app, [a for a in auto if a not in ("--cache-dir", str(cache))])
    assert json.loads(without.stdout)["model"] == "flow" or without.exit_code != 0


def test_download_from_a_file_that_is_no_checkpoint_names_that_file(assets, tmp_path, monkeypatch):
    fake = tmp_path / "given" / "model_s012_final.pth"
    fake.parent.mkdir()
    fake.write_bytes((assets / "clip.mp4").read_bytes())
    registry = tmp_path / "weights.yaml"
    files = [
        {
            "path": "model_s012_final.pth",
            "role": "checkpoint",
            "size": None,
            "sha256": None,
            "urls": ["https://example.invalid/x"],
        }
    ]
    registry.write_text(yaml.safe_dump({"tiny-rdevos": {"model": "rdevos", "task": "propagate", "files": files}}))
    monkeypatch.setenv("RVOS_REGISTRY", str(registry))
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["download", "tiny-rdevos", "--from", str(fake), "--cache-dir", str(cache)])
    line = one_error_line(result, 2)
    assert str(fake) in line and str(cache) not in line
