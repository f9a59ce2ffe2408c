"""`rvos bench`: the JSON summary's schema and the consistency of its figures, on tiny CPU runs."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No installed weights, so the runs use random weights wherever the tests run."""
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))


STATS = {"median", "min", "max"}


def bench(*args):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rvos_cli",
            "bench",
            *args,
            "--json",
            "--device",
            "cpu",
            "--repeat",
            "1",
            "--threads",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_consistent(summary):
    for key in ("model_fps", "end_to_end_fps"):
        assert set(summary[key]) == STATS
        assert 0 < summary[key]["min"] <= summary[key]["median"] <= summary[key]["max"]
    stages = summary["stage_seconds"]
    assert {"open", "load", "decode", "model", "finish"} <= set(stages)
    assert all(set(s) == STATS and s["median"] >= 0 for s in stages.values())
    assert stages["model"]["median"] > 0
    # With one measured run the end-to-end time contains that run's model stage.
    end_to_end_seconds = summary["frames"] / summary["end_to_end_fps"]["median"]
    assert end_to_end_seconds >= stages["model"]["median"] * 0.999
    assert summary["memory"]["peak_rss_mib"] > 50
    assert summary["memory"]["peak_gpu_allocated_mib"] is None
    system = summary["system"]
    assert system["device"] == "cpu" and system["precision"] == "fp32" and system["threads"] == 2
    assert system["torch"]


def test_bench_propagate_flow():
    summary = bench("propagate", "--model", "flow", "--frames", "6", "--size", "48x64")
    assert summary["task"] == "propagate" and summary["model"] == "flow"
    assert summary["frames"] == 6 and summary["parameters"] == 0
    assert summary["settings"]["input"] == [48, 64]
    check_consistent(summary)


@pytest.mark.slow
def test_bench_propagate_rdevos_random_weights():
    summary = bench("propagate", "--model", "rdevos", "--frames", "3", "--size", "48x64")
    assert summary["model"] == "rdevos" and summary["parameters"] == 64_020_836
    assert summary["weights"].startswith("random")
    check_consistent(summary)


@pytest.mark.slow
def test_bench_refer_random_weights():
    summary = bench("refer", "--frames", "4", "--window", "4", "--queries", "2", "--size", "64x96")
    assert summary["model"] == "mttr" and summary["parameters"] == 146_489_864
    assert summary["settings"] == {"queries": 2, "window": 4, "input": [64, 96]}
    assert {"preprocess", "postprocess", "overlay"} <= set(summary["stage_seconds"])
    check_consistent(summary)


def test_bench_rejects_bad_arguments():
    for args, message in (
        (["dance"], "unknown bench task"),
        (["refer", "--size", "big"], "is not HxW"),
        (["propagate", "--frames", "1"], "--frames must be at least 2"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "rvos_cli", "bench", *args], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2
        assert message in result.stderr and result.stdout == ""
