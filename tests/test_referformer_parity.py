"""ReferFormer against the official implementation (cases A and B), through the official loading paths.

Each case runs with the fixtures' random weights (seed 1234), given as a state dict and as a file
in the official format (a legacy pickle with the trainer's `args`, the integer buffers and both
copies of the aliased box heads).
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import frames_to_tensor

from rvos_cli.models.common.frames import (
    resize_bilinear_pil,
    resized_size,
)
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.referformer import (
    BACKBONES,
    detect_backbone,
    load_referformer,
    select_referred,
)
from rvos_cli.models.referformer.layout import layout
from rvos_cli.models.registry import MODELS

ATOL = {"pred_logits": 1e-4, "pred_boxes": 1e-4, "reference_points": 1e-4, "pred_masks": 2e-3}
# Final masks may differ only where the reference's upsampled logit is this close to the threshold.
MASK_MARGIN = 2e-3


def manifest_of(fixtures_dir, random_weights, backbone):
    """The fixture's manifest of `backbone`, whose file is named by the official spelling (video_swin_t_p4w7)."""
    official = backbone.replace("-", "_") + ("_p4w7" if "swin" in backbone else "")
    return random_weights.load_manifest(fixtures_dir / "referformer" / f"manifest_{official}.json")


def official_checkpoint(path, manifest, state):
    """Write `state` as the official trainers do: every manifest entry (integer buffers included), legacy format."""
    model = {}
    for name, shape, dtype in manifest:
        if name.endswith("position_ids"):
            model[name] = torch.arange(shape[1]).expand(1, -1).clone()
        elif name.endswith("relative_position_index"):
            model[name] = relative_position_index((8, 7, 7) if shape[0] == 392 else (1, 7, 7))
        else:
            model[name] = state[name]
        assert list(model[name].shape) == shape and str(model[name].dtype) == f"torch.{dtype}"
    args = argparse.Namespace(backbone="x", with_box_refine=True, binary=True, num_queries=5)
    torch.save(
        {"model": model, "optimizer": {}, "lr_scheduler": {}, "epoch": 1, "args": args},
        path,
        _use_new_zipfile_serialization=False,
    )


@pytest.fixture(
    scope="module",
    params=[("a", "state dict"), ("a", "official file"), ("b", "state dict"), ("b", "official file")],
    ids=lambda p: f"case_{p[0]}-{p[1].replace(' ', '_')}",
)
def run(request, fixtures_dir, random_weights, tmp_path_factory):
    """(case, model outputs per query on the official path, batched outputs or None)."""
    name, source = request.param
    case = torch.load(fixtures_dir / "referformer" / f"case_{name}.pt", weights_only=True)
    manifest = manifest_of(fixtures_dir, random_weights, MODELS["referformer"].variant(case["backbone"]))
    state = random_weights.random_state_dict(manifest, 1234)
    if source == "official file":
        path = tmp_path_factory.mktemp("referformer") / "checkpoint.pth"
        official_checkpoint(path, manifest, state)
        state = path
    model = load_referformer(state)
    with torch.inference_mode():
        features = model.encode_video(case["video"])
        outputs = []
        for ids, mask in zip(case["input_ids"], case["attention_mask"]):
            n = int(mask.sum())  # the official path tokenizes each expression alone: no padding
            outputs.append(model.decode(features, ids[None, :n], mask[None, :n], aux_outputs=True))
        batched = model(case["video"], case["input_ids"], case["attention_mask"]) if "batched_outputs" in case else None
    return case, outputs, batched


def test_outputs_match_reference(run):
    case, outputs, _ = run
    for ours, theirs in zip(outputs, case["outputs"]):
        for key, atol in ATOL.items():
            torch.testing.assert_close(ours[key], theirs[key], atol=atol, rtol=0, msg=key)
        for aux, ref in zip(ours["aux_outputs"], theirs["aux_outputs"]):
            for key in ("pred_logits", "pred_boxes", "pred_masks"):
                torch.testing.assert_close(aux[key], ref[key], atol=ATOL[key], rtol=0, msg=f"aux {key}")


def test_selection_and_final_masks_match_reference(run):
    case, outputs, _ = run
    for q, out in enumerate(outputs):
        masks, scores, selected = select_referred(out, original_size=case["original_size"])
        assert selected.tolist() == [case["selected_query"][q]]
        torch.testing.assert_close(scores[0], case["query_scores"][q], atol=1e-5, rtol=0)
        reference = case["outputs"][q]["pred_masks"][0, :, case["selected_query"][q]]
        logits = F.interpolate(reference[None], size=case["original_size"], mode="bilinear", align_corners=False)[0]
        differ = masks[0] != case["final_masks"][q]
        assert masks.shape == (1, *case["final_masks"][q].shape) and masks.dtype == torch.uint8
        assert (logits[differ].abs() < MASK_MARGIN).all()


def test_batched_queries_match_reference_and_single_queries(run):
    case, outputs, batched = run
    if batched is None:  # case A records one query, so there is no batched forward to compare
        assert len(outputs) == 1 and "batched_outputs" not in case
        return
    for key in ("pred_logits", "pred_boxes", "pred_masks"):
        torch.testing.assert_close(batched[key], case["batched_outputs"][key], atol=ATOL[key], rtol=0)
        for q, single in enumerate(outputs):
            torch.testing.assert_close(batched[key][q : q + 1], single[key], atol=ATOL[key], rtol=0)
    _, _, selected = select_referred(batched, original_size=case["original_size"])
    assert selected.tolist() == case["selected_query"]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_layout_equals_manifest(backbone, fixtures_dir, random_weights):
    manifest = manifest_of(fixtures_dir, random_weights, backbone)
    official = layout(backbone)
    assert list(official.shapes.items()) == [(name, tuple(shape)) for name, shape, _ in manifest]
    floating = {name for name, _, dtype in manifest if dtype == "float32"}
    assert set(official.floating()) == floating - set(official.aliases)
    state = {name: torch.empty(shape, device="meta") for name, shape, _ in manifest}
    assert detect_backbone(state) == backbone


def test_preprocessing_matches_official_transform(fixtures_dir):
    """PIL's bilinear resize (bit-exact) and the normalisation, against the hashes of the official transform."""
    reference = json.loads((fixtures_dir / "referformer" / "preprocess.json").read_text())
    for example, seed in zip(reference["examples"], (3, 4, 5, 6)):
        assert f"default_rng({seed})" in example["recipe"]
        image = np.random.default_rng(seed).integers(0, 256, size=(*example["input_hw"], 3), dtype=np.uint8)
        size = resized_size(*example["input_hw"])
        assert list(size) == example["resized_hw"]
        resized = resize_bilinear_pil(image, size)
        assert hashlib.sha256(resized.tobytes()).hexdigest() == example["resized_uint8_sha256"]
        video = frames_to_tensor([image])
        assert hashlib.sha256(video[0].numpy().tobytes()).hexdigest() == example["normalized_float32_sha256"]
