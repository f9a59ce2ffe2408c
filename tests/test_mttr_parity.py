"""MTTR against the official implementation (case A fixtures).

One model with the fixtures' random weights (seed 1234) is shared by the whole module.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rvos_cli.models.mttr import load_mttr, select_referred

ATOL = 1e-4


@pytest.fixture(scope="module")
def case_a(fixtures_dir):
    return torch.load(fixtures_dir / "mttr" / "case_a.pt", weights_only=True)


@pytest.fixture(scope="module")
def model(fixtures_dir, random_weights):
    manifest = random_weights.load_manifest(fixtures_dir / "mttr" / "manifest.json")
    return load_mttr(random_weights.random_state_dict(manifest, 1234))


@pytest.fixture(scope="module")
def out_a(model, case_a):
    with torch.inference_mode():
        return model(case_a["video"], case_a["input_ids"], case_a["attention_mask"], aux_outputs=True)


def test_outputs_match_reference(out_a, case_a):
    assert out_a["pred_is_referred"].shape == (4, 1, 50, 2)
    assert out_a["pred_masks"].shape == (4, 1, 50, 24, 40)
    torch.testing.assert_close(out_a["pred_is_referred"], case_a["pred_is_referred"], atol=ATOL, rtol=0)
    torch.testing.assert_close(out_a["pred_masks"], case_a["pred_masks"], atol=ATOL, rtol=0)
    for ours, theirs in zip(out_a["aux_outputs"], case_a["intermediates"]["aux_outputs"]):
        torch.testing.assert_close(ours["pred_masks"], theirs["pred_masks"], atol=ATOL, rtol=0)


def test_backbone_stages_match_reference(model, case_a):
    with torch.inference_mode():
        stages = model.backbone(case_a["video"])
    for ours, theirs in zip(stages, case_a["intermediates"]["backbone_stage_outputs"]):
        torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)


def test_selection_and_masks_match_reference(out_a, case_a):
    masks, scores, selected = select_referred(out_a, input_size=(96, 160), original_size=(192, 320))
    assert selected.tolist() == case_a["selected_query"].tolist()
    torch.testing.assert_close(scores, case_a["trajectory_scores"], atol=ATOL, rtol=0)
    assert masks.dtype == torch.uint8 and masks.shape == case_a["final_masks"].shape

    # Pixels whose reference logit is within 1e-3 of 0 may legitimately flip.
    logits = case_a["pred_masks"][:, 0, case_a["selected_query"].item()][None]
    logits = F.interpolate(logits, size=(96, 160), mode="bilinear", align_corners=False)
    uncertain = F.interpolate((logits.abs() < 1e-3).float(), size=(192, 320), mode="nearest").bool()
    assert uncertain.float().mean() < 0.01
    assert torch.equal(masks[~uncertain], case_a["final_masks"][~uncertain])
    assert masks.sum() > 0

    at_input, _, _ = select_referred(out_a, input_size=(96, 160), original_size=(96, 160))
    differ = at_input != case_a["masks_at_input_size"]
    assert differ.sum() <= (logits.abs() < 1e-3).sum()


def test_text_intermediates_match_reference(model, case_a):
    inter = case_a["intermediates"]
    with torch.inference_mode():
        text = model.transformer.encode_text(case_a["input_ids"], case_a["attention_mask"])
    torch.testing.assert_close(text, inter["txt_proj_out"].transpose(0, 1), atol=ATOL, rtol=0)
