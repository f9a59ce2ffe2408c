"""A model added through the registry alone runs through the CLI, the Python API and bench, with
installed, --checkpoint-file and --checkpoint-folder weights; and every caller applies one precision
policy (docs/architecture.md, "Adding a model")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import toy_models
from conftest import write_tiny_tokenizer
from safetensors.torch import save_file
from typer.testing import CliRunner

import rvos
from rvos_cli.cli import app
from rvos_cli.models.registry import register, unregister
from rvos_cli.video import read_label_png
from rvos_cli.video.synthetic import write_sample


@pytest.fixture(autouse=True)
def toys():
    for spec in toy_models.SPECS:
        register(spec)
    toy_models.SEEN.clear()
    yield
    for spec in toy_models.SPECS:
        unregister(spec.name)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clip")
    mask = write_sample(folder / "clip.mp4", seconds=0.25, fps=24, width=64, height=48, audio=False)
    return folder / "clip.mp4", mask


def cli(*args) -> dict:
    """The command's JSON summary (--json is added)."""
    args = [str(a) for a in args]
    result = CliRunner().invoke(app, args if "--json" in args else [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def checkpoint(path: Path, gain: float) -> Path:
    save_file({"gain": torch.full((1,), gain)}, str(path))
    return path


def labels_of(folder: Path) -> list[np.ndarray]:
    return [read_label_png(p) for p in sorted(folder.glob("*.png"))]


def test_propagate_with_a_checkpoint_file_through_cli_api_and_bench(clip, tmp_path):
    video, mask = clip
    weights = checkpoint(tmp_path / "toy.safetensors", 3.0)
    first = read_label_png(mask)
    expected = np.where(first > 0, first + 3, 0)
    summary = cli(
        "propagate", video, "--mask", mask, "--model", "toyprop", "--checkpoint", weights, "-o", tmp_path / "o"
    )
    assert summary["model"] == "toyprop" and summary["frames"] == 6
    assert all(np.array_equal(labels, expected) for labels in labels_of(tmp_path / "o"))
    tracked = list(rvos.Propagator("toyprop", checkpoint=weights).track(str(video), first))
    assert len(tracked) == 6 and all(np.array_equal(labels, expected) for _, labels in tracked)
    # A folder holding the checkpoint (an installed entry's, or one fetched by hand) serves too.
    (_, labels), *_ = rvos.Propagator("toyprop", checkpoint=tmp_path).track(str(video), first)
    assert np.array_equal(labels, expected)
    bench = cli("bench", "propagate", "--model", "toyprop", "--frames", "3", "--size", "48x64", "--repeat", "1",
                "--warmup", "0", "--json")  # fmt: skip
    assert bench["model"] == "toyprop" and bench["weights"] == "random" and bench["parameters"] == 1


def test_a_models_own_flags_and_no_other(clip, tmp_path):
    video, mask = clip
    weights = checkpoint(tmp_path / "toy.safetensors", 0.0)
    cli("propagate", video, "--mask", mask, "--model", "toyprop", "--checkpoint", weights, "-o", tmp_path / "o")
    result = CliRunner().invoke(app, ["propagate", str(video), "--mask", str(mask), "--model", "toyprop",
                                      "--checkpoint", str(weights), "--top-k", "3"])  # fmt: skip
    assert result.exit_code == 2 and "--top-k does not apply to --model toyprop" in result.output
    shifted = rvos.Propagator("toyprop", checkpoint=weights)
    shifted.propagator.shift = 5
    (_, first), (_, second) = list(shifted.track(str(video), read_label_png(mask)))[:2]
    assert np.array_equal(second, np.roll(first, 5, axis=1))


def test_installed_weights_from_another_registry_are_found_without_it(clip, tmp_path):
    """`rvos download --registry F NAME` then `rvos propagate --weights NAME` (issue 20, item 3)."""
    video, mask = clip
    weights = checkpoint(tmp_path / "toy.safetensors", 2.0)
    registry = tmp_path / "extra.yaml"
    registry.write_text(
        "toyprop-w:\n  model: toyprop\n  task: propagate\n  files:\n"
        f"    - {{path: toy.safetensors, role: checkpoint, urls: ['{weights.as_uri()}']}}\n"
    )
    cache = tmp_path / "cache"
    installed = cli("download", "toyprop-w", "--registry", registry, "--cache-dir", cache, "--json")
    assert installed["weights"][0]["status"] == "installed"
    assert (cache / "toyprop-w" / "model.safetensors").is_file() and not (
        cache / "toyprop-w" / "toy.safetensors"
    ).exists()
    summary = cli("propagate", video, "--mask", mask, "--weights", "toyprop-w", "--cache-dir", cache,
                  "-o", tmp_path / "o", "--json")  # fmt: skip
    assert summary["model"] == "toyprop" and summary["options"]["weights"] == "toyprop-w"
    first = read_label_png(mask)
    assert np.array_equal(labels_of(tmp_path / "o")[0], np.where(first > 0, first + 2, 0))
    (_, labels), *_ = rvos.Propagator("toyprop-w", cache_dir=cache).track(str(video), first)
    assert np.array_equal(labels, np.where(first > 0, first + 2, 0))


def test_a_hugging_face_style_folder(clip, tmp_path):
    video, mask = clip
    folder = toy_models.write_toy_folder(tmp_path / "toy-model", offset=4)
    summary = cli("propagate", video, "--mask", mask, "--model", "toyhf", "--checkpoint", folder, "-o", tmp_path / "o",
                  "--json")  # fmt: skip
    first = read_label_png(mask)
    assert summary["model"] == "toyprop" and np.array_equal(
        labels_of(tmp_path / "o")[0], np.where(first > 0, first + 4, 0)
    )
    result = CliRunner().invoke(app, ["propagate", str(video), "--mask", str(mask), "--model", "toyhf",
                                      "--checkpoint", str(folder / "model.safetensors")])  # fmt: skip
    assert result.exit_code == 2 and "takes a Hugging Face model folder" in result.output
    registry = tmp_path / "extra.yaml"
    registry.write_text(
        "toyhf-w:\n  model: toyhf\n  task: propagate\n  format: hf\n  repo: someone/toy\n  revision: abc123\n"
        "  files:\n    - {path: config.json, role: config}\n    - {path: model.safetensors, role: weights}\n"
    )
    cache = tmp_path / "cache"
    cli("download", "toyhf-w", "--registry", registry, "--from", folder, "--cache-dir", cache, "--json")
    assert sorted(p.name for p in (cache / "toyhf-w").iterdir()) == [
        "config.json",
        "installed.json",
        "model.safetensors",
    ]
    summary = cli("propagate", video, "--mask", mask, "--weights", "toyhf-w", "--cache-dir", cache, "-o",
                  tmp_path / "o2", "--json")  # fmt: skip
    assert np.array_equal(labels_of(tmp_path / "o2")[0], np.where(first > 0, first + 4, 0))


def test_refer_through_cli_api_and_bench(clip, tmp_path):
    video, _ = clip
    weights = checkpoint(tmp_path / "toy.safetensors", 0.0)
    tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer")
    summary = cli("refer", video, "-t", "a", "-t", "b", "--model", "toyrefer", "--checkpoint", weights, "--tokenizer",
                  tokenizer, "--overlap", 2, "--masks", tmp_path / "m", "-o", tmp_path / "o.mp4")  # fmt: skip
    assert summary["model"] == "toyrefer" and summary["window"] == 5 and summary["windows"] == 2
    assert [q["windows"][0]["score"] for q in summary["queries"]] == [1.0, 0.9]
    left = read_label_png(sorted((tmp_path / "m" / "0").glob("*.png"))[0])
    assert left[:, :32].all() and not left[:, 32:].any()
    referrer = rvos.Referrer(model="toyrefer", checkpoint=weights, tokenizer=tokenizer, overlap=2)
    frames = list(referrer.segment(str(video), ["a", "b"]))
    assert len(frames) == 6 and frames[0][1].shape == (2, 48, 64) and frames[0][1][1][:, 32:].all()
    bench = cli("bench", "refer", "--model", "toyrefer", "--frames", "3", "--size", "48x64", "--repeat", "1",
                "--warmup", "0", "--json")  # fmt: skip
    assert bench["model"] == "toyrefer" and bench["settings"]["window"] == 5


@pytest.mark.parametrize("precision, expected", [("tf32", (True, True, True, False, False)),
                                                 ("bf16", (False, False, True, True, False))])  # fmt: skip
def test_cli_api_and_bench_apply_one_precision_policy(precision, expected, clip, tmp_path):
    """The flags a model runs under are the runtime's, whoever calls it (issue 20, item 4)."""
    video, mask = clip
    weights = checkpoint(tmp_path / "toy.safetensors", 0.0)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # bf16 leaves them so
    common = ["--device", "cpu", "--precision", precision]
    cli("propagate", video, "--mask", mask, "--model", "toyprop", "--checkpoint", weights, "-o", tmp_path / "o",
        "--json", *common)  # fmt: skip
    via_cli = set(toy_models.SEEN)
    toy_models.SEEN.clear()
    list(rvos.Propagator("toyprop", checkpoint=weights, device="cpu", precision=precision).track(
        str(video), read_label_png(mask)))  # fmt: skip
    via_api = set(toy_models.SEEN)
    toy_models.SEEN.clear()
    cli("bench", "propagate", "--model", "toyprop", "--frames", "3", "--size", "48x64", "--repeat", "1", "--warmup",
        "0", "--json", *common)  # fmt: skip
    via_bench = set(toy_models.SEEN)
    toy_models.SEEN.clear()
    tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer")
    list(rvos.Referrer(model="toyrefer", checkpoint=weights, tokenizer=tokenizer, device="cpu", overlap=2,
                       precision=precision).segment(str(video), ["a"]))  # fmt: skip
    via_referrer = set(toy_models.SEEN)
    assert via_cli == via_api == via_bench == via_referrer == {expected}
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.benchmark  # restored after each call
