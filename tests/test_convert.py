"""Checkpoint conversion: official layouts -> model.safetensors, and what must be refused."""

from __future__ import annotations

import fnmatch
import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from rvos_cli.errors import CheckpointError
from rvos_cli.weights.convert import LAYOUTS, convert_checkpoint, expected_layout

EXPECTED = {"encoder.weight": (8, 4), "encoder.bias": (8,), "bn.running_mean": (8,), "bn.num_batches_tracked": ()}
OPTIONAL = ("*.num_batches_tracked", "text.position_ids")


def official(**extra) -> dict[str, torch.Tensor]:
    state = {"encoder.weight": torch.randn(8, 4), "encoder.bias": torch.randn(8), "bn.running_mean": torch.randn(8)}
    state.update(extra)
    return state


def test_wrapped_checkpoint_converts_and_loads_back(tmp_path):
    state = official(**{"text.position_ids": torch.arange(5)[None]})
    src = tmp_path / "ckpt.pth.tar"
    torch.save({"epoch": 9, "model_state_dict": state, "optimizer_state_dict": {"state": {}}, "best_mAP": 0.5}, src)
    count = convert_checkpoint(src, tmp_path / "model.safetensors", EXPECTED, OPTIONAL, metadata={"rvos_entry": "x"})
    loaded = load_file(str(tmp_path / "model.safetensors"))
    assert count == 3 and set(loaded) == {"encoder.weight", "encoder.bias", "bn.running_mean"}  # position_ids dropped
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert f.metadata()["rvos_entry"] == "x"


def test_wrong_checkpoint_lists_mismatches(tmp_path):
    src = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.randn(8, 5), "decoder.weight": torch.randn(2)}, src)
    with pytest.raises(CheckpointError) as info:
        convert_checkpoint(src, tmp_path / "model.safetensors", EXPECTED, OPTIONAL, model="rdevos")
    message = str(info.value)
    assert "not a rdevos checkpoint" in message
    assert "encoder.bias" in message and "decoder.weight" in message and "(8, 5) != (8, 4)" in message
    assert not (tmp_path / "model.safetensors").exists()


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_not_run(tmp_path):
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.pth"
    torch.save({"state_dict": official(), "x": Evil(marker)}, src)
    with pytest.raises(CheckpointError, match="not unpickled"):
        convert_checkpoint(src, tmp_path / "model.safetensors", EXPECTED, OPTIONAL)
    assert not marker.exists() and not (tmp_path / "model.safetensors").exists()


def test_rdevos_official_layout_from_manifest(tmp_path, random_weights, fixtures_dir):
    """The real RDE-VOS names and shapes (64M values): a flat official file converts and reads back."""
    manifest = random_weights.load_manifest(fixtures_dir / "rdevos" / "manifest.json")
    expected = {name: tuple(shape) for name, shape, _ in manifest}
    # Zero-stride views keep the pickle tiny; conversion materialises them.
    state = {
        name: torch.zeros(1, dtype=getattr(torch, dtype)).reshape([1] * len(shape)).expand(shape)
        for name, shape, dtype in manifest
        if not name.endswith("num_batches_tracked")
    }
    state["key_proj.key_proj.weight"] = torch.randn(expected["key_proj.key_proj.weight"])
    src = tmp_path / "model_s012_final.pth"
    torch.save(state, src)
    convert_checkpoint(src, tmp_path / "model.safetensors", expected, LAYOUTS["rdevos"][1], model="rdevos")
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(state)
        assert all(tuple(f.get_slice(k).get_shape()) == expected[k] for k in f.keys())
        assert torch.equal(f.get_tensor("key_proj.key_proj.weight"), state["key_proj.key_proj.weight"])


@pytest.mark.parametrize("model, fixture", [("rdevos", "rdevos"), ("mttr", "mttr")])
def test_model_layout_matches_the_official_manifest(model, fixture, random_weights, fixtures_dir):
    if importlib.util.find_spec(LAYOUTS[model][0]) is None:
        pytest.skip(f"{LAYOUTS[model][0]} not written yet")
    expected, optional = expected_layout(model)
    manifest = {name: tuple(shape) for name, shape, _ in random_weights.load_manifest(fixtures_dir / fixture / "manifest.json")}
    def required(names):
        return {n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in optional)}

    assert required(expected) == required(manifest)
    assert all(tuple(expected[n]) == manifest[n] for n in required(expected))
