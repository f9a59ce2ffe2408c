"""SOC against the official implementation (case A and B fixtures, random weights of seed 1234).

The fixtures hold the official outputs TIME FIRST ([T, 1, 20, ...]); the port returns them batch
first ([B, T, 20, ...]), so each expression is compared through `[0]` / `[:, 0]`.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rvos_cli.models.soc import load_soc, select_referred
from rvos_cli.models.soc.layout import layout
from rvos_cli.models.soc.referrer import SocReferrer

# pred_masks logits reach hundreds (pixel-unit relative coordinates); float32 noise is ~1e-3.
ATOL = {"pred_cls": 1e-4, "pred_boxes": 1e-4, "pred_masks": 1e-2}
# Training-only outputs, recorded for completeness.
ATOL_EXTRA = {"pred_logit": 1e-4, "text_sentence_feature": 1e-4}


@pytest.fixture(scope="module")
def manifests(fixtures_dir, random_weights):
    return {
        b: random_weights.load_manifest(fixtures_dir / "soc" / f"manifest_video_swin_{b[-1]}.json")
        for b in ("video-swin-t", "video-swin-b")
    }


@pytest.fixture(scope="module")
def state(manifests, random_weights):
    return random_weights.random_state_dict(manifests["video-swin-t"], 1234)


@pytest.fixture(scope="module")
def model(state):
    return load_soc(state)


def load_case(fixtures_dir, name):
    return torch.load(fixtures_dir / "soc" / f"case_{name}.pt", weights_only=True)


def run_expression(model, case, i):
    """The official path: one forward per expression, on its unpadded tokens."""
    length = int(case["attention_mask"][i].sum())
    with torch.inference_mode():
        return model(case["video"], case["input_ids"][i : i + 1, :length], case["attention_mask"][i : i + 1, :length])


def assert_matches_reference(out, case, i):
    ref = case["outputs"][i]
    for key, atol in ATOL.items():
        ours, theirs = out[key][0], ref[key][:, 0]
        assert ours.shape == theirs.shape, key
        torch.testing.assert_close(ours, theirs, atol=atol, rtol=0, msg=lambda m, k=key: f"{k}: {m}")
    for key, atol in ATOL_EXTRA.items():
        torch.testing.assert_close(out[key], ref[key], atol=atol, rtol=0)


def assert_selection_matches_reference(out, case, i):
    original = tuple(case["original_size"])
    masks, scores, selected = select_referred(out, original_size=original)
    torch.testing.assert_close(scores[0], case["query_scores"][i], atol=1e-5, rtol=0)
    assert selected.tolist() == [int(case["selected_query"][i])]
    ref = case["final_masks"][i]
    assert masks.dtype == torch.uint8 and masks.shape == (1, *ref.shape)
    # Pixels whose reference logit is within 1e-2 of 0 may flip with float32 noise.
    logits = case["outputs"][i]["pred_masks"][:, 0, int(case["selected_query"][i])][None]
    logits = F.interpolate(logits, size=original, mode="bilinear", align_corners=False)[0]
    certain = logits.abs() >= 1e-2
    assert torch.equal(masks[0][certain], ref[certain])
    assert (~certain).sum() < 100


def test_layout_matches_official_manifests(manifests):
    for backbone, manifest in manifests.items():
        shapes = layout(backbone).shapes
        assert list(shapes) == [name for name, _, _ in manifest], backbone
        assert [tuple(s) for s in shapes.values()] == [tuple(shape) for _, shape, _ in manifest], backbone


def test_preprocessing_matches_official_transform(fixtures_dir):
    """`RandomResize([360], max_size=640)` + `ToTensor` + `Normalize` on the 8 recorded images:
    the sizes, and the normalized tensors bit for bit."""
    examples = json.loads((fixtures_dir / "soc" / "preprocess.json").read_text())["examples"]
    assert len(examples) == 8
    referrer = SocReferrer(network=None)
    for example in examples:
        size = referrer.input_size(*example["input_hw"])
        assert size == tuple(example["resized_hw"]), example["input_hw"]
        seed = int(example["recipe"].split("default_rng(")[1].split(")")[0])
        image = np.random.default_rng(seed).integers(0, 256, size=(*example["input_hw"], 3), dtype=np.uint8)
        video = referrer.model_input(referrer.preprocess([image], size), size)
        digest = hashlib.sha256(video[0].numpy().tobytes()).hexdigest()
        assert digest == example["normalized_float32_sha256"], example["input_hw"]


def test_case_a(model, fixtures_dir):
    case = load_case(fixtures_dir, "a")
    out = run_expression(model, case, 0)
    assert_matches_reference(out, case, 0)
    assert_selection_matches_reference(out, case, 0)


def test_case_b_each_expression_and_batched(model, fixtures_dir):
    case = load_case(fixtures_dir, "b")
    singles = [run_expression(model, case, i) for i in range(2)]
    for i, out in enumerate(singles):
        assert_matches_reference(out, case, i)
        assert_selection_matches_reference(out, case, i)
    # Two padded expressions in one batch: VOC runs per item, so this equals the separate forwards.
    with torch.inference_mode():
        batched = model(case["video"], case["input_ids"], case["attention_mask"])
    for i, single in enumerate(singles):
        for key, atol in ATOL.items():
            torch.testing.assert_close(batched[key][i], single[key][0], atol=atol, rtol=0)
    _, _, selected = select_referred(batched, original_size=tuple(case["original_size"]))
    assert selected.tolist() == [int(s) for s in case["selected_query"]]


def test_official_trainer_file_loads_the_same_model(tmp_path, state, model, fixtures_dir):
    """The trainer's file layout: integer buffers and position_ids included, an A2D numpy score."""
    official = dict(state)
    official["text_encoder.embeddings.position_ids"] = torch.arange(514)[None]
    for name, tensor in model.state_dict().items():
        if name.endswith("relative_position_index"):
            official[name] = tensor.clone()
    path = tmp_path / "soc.pth.tar"
    torch.save({"model_state_dict": official, "optimizer_state_dict": {}, "epoch": 1, "score": np.float64(0.5)}, path)
    loaded = load_soc(path)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(ours) == list(theirs)
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    case = load_case(fixtures_dir, "a")
    assert_matches_reference(run_expression(loaded, case, 0), case, 0)
