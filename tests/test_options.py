"""Typed options: every bad value or option that does not apply is exit 2 before torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rvos_cli.errors import InputError
from rvos_cli.models.flow.options import FlowOptions
from rvos_cli.models.mttr.options import MttrOptions
from rvos_cli.models.rdevos.options import RdevosOptions
from rvos_cli.models.referformer.options import ReferFormerOptions
from rvos_cli.pipelines.options import RuntimeOptions, WindowOptions, propagate_options, refer_options

# Runs the CLI in a fresh interpreter and reports whether torch was imported before it exited.
PROBE = """
import sys
from rvos_cli.cli import app
try:
    app(prog_name="rvos", args=sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
except BaseException as exc:
    if getattr(exc, "exit_code", None) is None:
        raise
print("torch imported" if "torch" in sys.modules else "no torch")
"""


@pytest.mark.parametrize(
    "args, message",
    [
        (["propagate", "clip.mp4", "-m", "m.png", "--model", "flow", "--device", "tpu"], "unknown --device 'tpu'"),
        (
            ["propagate", "clip.mp4", "-m", "m.png", "--model", "rdevos", "--precision", "int8"],
            "unknown --precision 'int8'",
        ),
        (["propagate", "clip.mp4", "-m", "m.png", "--model", "flow", "--device", "cuda"], "runs on the CPU"),
        (
            ["propagate", "clip.mp4", "-m", "m.png", "--model", "flow", "--top-k", "3"],
            "--top-k does not apply to --model flow",
        ),
        (["propagate", "clip.mp4", "-m", "m.png", "--model", "rdevos", "--mem-every", "0"], "--mem-every 0"),
        (["refer", "clip.mp4", "-t", "x", "--window", "0"], "--window 0 must be at least 1"),
        (["refer", "clip.mp4", "-t", "x", "--model", "sam"], "unknown --model 'sam'"),
        (["propagate", "clip.mp4", "-m", "m.png", "--model", "mttr"], "unknown --model 'mttr'"),
        (["bench", "propagate", "--model", "flow", "--backbone", "x"], "flow has no backbone 'x'"),
        (["refer", "clip.mp4", "-t", "x", "--size", "16"], "--size 16 must be at least 32"),
        (["refer", "clip.mp4", "-t", "x", "--weights", "rdevos-ytvos"], "not `rvos refer`"),
    ],
)
def test_bad_options_fail_before_torch_is_imported(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.stdout.strip() == "no torch", result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_runtime_options():
    assert RuntimeOptions("CUDA:1", "BF16") == RuntimeOptions("cuda:1", "bf16")
    for device, precision in (("gpu", "auto"), ("cpu", "fp64")):
        with pytest.raises(InputError):
            RuntimeOptions(device, precision)


def test_propagate_model_choice():
    cpu = RuntimeOptions("cpu")
    assert propagate_options("auto", cpu, installed={}) == FlowOptions()
    assert propagate_options("auto", cpu, installed={"rdevos": ["rdevos-davis"]}) == RdevosOptions(
        weights="rdevos-davis"
    )
    assert propagate_options("auto", cpu, installed={}, top_k=5) == RdevosOptions(top_k=5)
    assert propagate_options("flow", size=0) == FlowOptions(size=0)
    assert propagate_options("rdevos", size=320) == RdevosOptions(size=320, upscale=True)
    with pytest.raises(InputError, match="--weights does not apply to --model flow"):
        propagate_options("flow", weights="rdevos-ytvos")
    with pytest.raises(InputError, match="runs on the CPU only"):
        propagate_options("flow", RuntimeOptions("cuda"))


def test_auto_says_why():
    cpu = RuntimeOptions("cpu")
    assert "no learned propagator" in propagate_options("auto", cpu, installed={}).reason
    assert "--top-k was given" in propagate_options("auto", cpu, installed={}, top_k=5).reason
    picked = propagate_options("auto", cpu, installed={"rdevos": ["rdevos-ytvos", "rdevos-davis"]})
    assert picked.weights == "rdevos-ytvos" and "rdevos-ytvos, rdevos-davis" in picked.reason


def test_refer_model_follows_the_weights():
    assert isinstance(refer_options(), MttrOptions)
    assert isinstance(refer_options(None, "mttr-a2d"), MttrOptions)
    options = refer_options("referformer")
    assert isinstance(options, ReferFormerOptions) and options.input_bounds() == (360, None)
    assert MttrOptions(size=300).input_bounds() == (300, 640)
    with pytest.raises(InputError, match="--max-size 100 must be at least --size 360"):
        MttrOptions(max_size=100)


@pytest.mark.parametrize(
    "frames, window, overlap, expected",
    [
        (10, 24, 6, [(0, 10)]),
        (30, 24, 6, [(0, 24), (18, 30)]),
        (7, 3, 0, [(0, 3), (3, 6), (6, 7)]),
    ],
)
def test_window_spans(frames, window, overlap, expected):
    assert WindowOptions(window, overlap).spans(frames) == expected


@pytest.mark.parametrize(
    "args, code",
    [
        (["propagate", "clip.mp4", "--mask", "clip.mask.png", "--model", "flow", "-o", "out", "-q"], 0),
        (["propagate", "clip.mp4", "--mask", "clip.mask.png", "-o", "out2", "-q"], 0),  # auto, nothing installed
        (["refer", "clip.mp4", "-t", "a cat", "-q"], 3),  # weights missing: said before any model import
        (["propagate", "clip.mp4", "--mask", "clip.mask.png", "--model", "sam2", "-q"], 3),
    ],
)
def test_a_command_imports_only_what_it_runs(args, code, tiny_work, tmp_path, monkeypatch):
    """The flow tracker is OpenCV and numpy: a flow run, and a missing-weights error, import neither torch
    nor transformers (issue 24: start-up)."""
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "empty-cache"))
    probe = PROBE.replace(
        'print("torch imported" if "torch" in sys.modules else "no torch")',
        'print(sorted(m for m in ("torch", "transformers") if m in sys.modules), file=sys.stdout)',
    )
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
    assert (code == 0) == (not result.stderr.strip()), result.stderr
