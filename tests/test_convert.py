"""Checkpoint conversion: official layouts -> model.safetensors, and what must be refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from rvos_cli.errors import CheckpointError
from rvos_cli.models.registry import MODELS, models
from rvos_cli.weights.convert import convert_checkpoint
from rvos_cli.weights.registry import load_registry


def zero_state(layout, **extra) -> dict[str, torch.Tensor]:
    """Every required entry of `layout` as a zero-stride view: the pickle stays tiny, conversion materialises it."""
    state = {name: torch.zeros(1).reshape([1] * len(shape)).expand(shape) for name, shape in layout.floating().items()}
    state.update(extra)
    return state


def test_every_model_with_weights_has_registry_entries():
    named = {entry.model for entry in load_registry().values()} - {"none"}
    assert named == {spec.name for spec in models() if spec.weights != "none"}


OFFICIAL = sorted(spec.name for spec in models() if spec.weights == "official")


@pytest.mark.parametrize("model", OFFICIAL)
def test_every_model_converts_from_an_official_wrapped_file(model, tmp_path):
    spec = MODELS[model]
    layout = spec.layout(spec.variants[0])
    marked = next(iter(layout.floating()))
    state = zero_state(layout, **{marked: torch.randn(layout.shapes[marked])})
    dropped = [name for name in layout.shapes if layout.is_dropped(name)]
    state.update({name: torch.zeros(layout.shapes[name], dtype=torch.long) for name in dropped})
    src = tmp_path / "ckpt.pth.tar"
    torch.save({"epoch": 9, "model_state_dict": state, "optimizer_state_dict": {"state": {}}, "best_mAP": 0.5}, src)
    count = convert_checkpoint(src, tmp_path / "model.safetensors", model, metadata={"rvos_entry": "x"})
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(state) - set(dropped) and count == len(state) - len(dropped)
        assert all(tuple(f.get_slice(k).get_shape()) == layout.shapes[k] for k in f.keys())
        assert torch.equal(f.get_tensor(marked), state[marked])
        assert f.metadata()["rvos_entry"] == "x" and f.metadata()["rvos_variant"] == layout.variant
    loaded = spec.load(tmp_path / "model.safetensors")
    assert torch.equal(loaded.state_dict()[marked], state[marked])


def test_module_prefix_is_removed(tmp_path):
    layout = MODELS["rdevos"].layout("resnet50")
    state = {f"module.{k}": v for k, v in zero_state(layout).items()}
    torch.save(state, tmp_path / "dp.pth")
    assert convert_checkpoint(tmp_path / "dp.pth", tmp_path / "model.safetensors", "rdevos") == len(state)


def test_wrong_checkpoint_lists_mismatches(tmp_path):
    layout = MODELS["rdevos"].layout("resnet50")
    state = zero_state(layout)
    first, second = list(state)[:2]
    state[first] = torch.zeros(3, 5)
    del state[second]
    state["decoder.extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(CheckpointError) as info:
        convert_checkpoint(tmp_path / "other.pth", tmp_path / "model.safetensors", "rdevos")
    message = str(info.value)
    assert "not a RDE-VOS (resnet50) checkpoint" in message
    assert second in message and "decoder.extra.weight" in message and "(3, 5) !=" in message
    assert len(message.splitlines()) == 1 and not (tmp_path / "model.safetensors").exists()


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_not_run(tmp_path):
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.pth"
    torch.save({"state_dict": zero_state(MODELS["rdevos"].layout("resnet50")), "x": Evil(marker)}, src)
    with pytest.raises(CheckpointError, match="not unpickled"):
        convert_checkpoint(src, tmp_path / "model.safetensors", "rdevos")
    assert not marker.exists() and not (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize("model, manifest", [("rdevos", "rdevos/manifest.json"), ("mttr", "mttr/manifest.json")])
def test_model_layout_matches_the_official_manifest(model, manifest, random_weights, fixtures_dir):
    rows = random_weights.load_manifest(fixtures_dir / manifest)
    spec = MODELS[model]
    layout = spec.layout(spec.variants[0])
    assert [(name, tuple(shape)) for name, shape, _ in rows] == list(layout.shapes.items())


@pytest.mark.parametrize("model, winner", [("referformer", "canonical"), ("soc", "alias")])
def test_aliased_box_heads_keep_the_copy_the_original_loader_keeps(model, winner, tmp_path):
    """Both copies of the box heads are saved; like the original's load_state_dict, ReferFormer keeps
    `bbox_embed.*` and SOC keeps `transformer.decoder.bbox_embed.*` (whichever its modules visit last)."""
    layout = MODELS[model].layout(MODELS[model].variants[0])
    alias, canonical = next(iter(layout.aliases.items()))
    state = zero_state(layout)
    state[canonical] = torch.full(layout.shapes[canonical], 1.0)
    state[alias] = torch.full(layout.shapes[alias], 2.0)
    args = argparse.Namespace(backbone=layout.variant, with_box_refine=True)
    torch.save(
        {"model": state, "epoch": 1, "args": args, "score": np.float64(0.5)},
        tmp_path / "official.pth",
        _use_new_zipfile_serialization=False,
    )
    convert_checkpoint(tmp_path / "official.pth", tmp_path / "model.safetensors", model)
    converted = load_file(str(tmp_path / "model.safetensors"))
    assert alias not in converted
    assert converted[canonical].unique().item() == (1.0 if winner == "canonical" else 2.0)
