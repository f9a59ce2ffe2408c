"""MTTR against the official implementation (case A fixtures), and properties the port must keep.

One model with the fixtures' random weights (seed 1234) is shared by the whole module.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rvos_cli.models.common import video_swin as swin
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


@pytest.fixture(scope="module")
def clip():
    """T > 8 (shifted temporal windows, odd T) and sizes that are not multiples of 32."""
    torch.manual_seed(0)
    video = torch.randn(11, 1, 3, 70, 122)
    ids = torch.tensor([[0, 1437, 2422, 11, 2, 1, 1], [0, 909, 4655, 10, 4806, 11, 2]])
    return video, ids, (ids != 1).long()


def test_queries_batched_equal_one_by_one(model, clip):
    video, ids, mask = clip
    with torch.inference_mode():
        features = model.encode_video(video)
        batched = model.decode(features, ids, mask)
        assert batched["pred_masks"].shape == (11, 2, 50, 18, 31)
        for q in range(2):
            length = int(mask[q].sum())
            single = model.decode(features, ids[q:q + 1, :length], mask[q:q + 1, :length])
            for key in ("pred_masks", "pred_is_referred"):
                torch.testing.assert_close(single[key][:, 0], batched[key][:, q], atol=ATOL, rtol=0)
        whole = model(video.expand(-1, 2, -1, -1, -1), ids, mask)
        torch.testing.assert_close(whole["pred_masks"], batched["pred_masks"], atol=ATOL, rtol=0)


def test_window_attention_equals_reference_formula(model, clip, monkeypatch):
    """The SDPA path (with the shifted-window mask for T > 8) computes the reference's explicit softmax."""

    def explicit(self, x, mask=None):
        b_, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * (c // self.num_heads) ** -0.5) @ k.transpose(-2, -1)
        index = self.relative_position_index[:n, :n].reshape(-1)
        attn = attn + self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1)[None]
        if mask is not None:
            attn = attn.view(b_ // mask.shape[0], mask.shape[0], self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b_, n, c))

    video = clip[0]
    with torch.inference_mode():
        fast = model.backbone(video)
        monkeypatch.setattr(swin.WindowAttention3D, "forward", explicit)
        slow = model.backbone(video)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_bf16_autocast_agrees_with_fp32(model, clip):
    video, ids, mask = clip
    with torch.inference_mode():
        fp32 = model(video, ids, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(video, ids, mask)
    assert bf16["pred_masks"].dtype == torch.bfloat16
    a, _, _ = select_referred(fp32, input_size=(70, 122), original_size=(70, 122))
    b, _, _ = select_referred(bf16, input_size=(70, 122), original_size=(70, 122))
    assert (a == b).float().mean() >= 0.99


def test_padding_mask_only_affects_padded_videos(model, clip):
    """Batched videos of different sizes: the pad mask (True on padded pixels) reaches the transformer."""
    video, ids, mask = clip
    video = video[:3, :, :, :40, :64].expand(-1, 2, -1, -1, -1)
    pad = torch.zeros(3, 2, 40, 64, dtype=torch.bool)
    pad[:, 1, :, 48:] = True
    with torch.inference_mode():
        plain = model(video, ids, mask)
        padded = model(video, ids, mask, pad_mask=pad)
    torch.testing.assert_close(padded["pred_masks"][:, 0], plain["pred_masks"][:, 0], atol=ATOL, rtol=0)
    assert (padded["pred_masks"][:, 1] - plain["pred_masks"][:, 1]).abs().max() > 1e-3
