"""Properties the MTTR port must keep beyond the recorded case: batching, the attention formula for
T > 8, mixed precision and padding. Weights are drawn from the project's own layout, so these run
wherever the tests run."""

from __future__ import annotations

import pytest
import torch

from rvos_cli.models.common import video_swin as swin
from rvos_cli.models.mttr import load_mttr, select_referred
from rvos_cli.models.mttr.layout import layout
from rvos_cli.models.random_weights import random_state_dict

ATOL = 1e-4


@pytest.fixture(scope="module")
def model():
    return load_mttr(random_state_dict(layout(), seed=1234))


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
            single = model.decode(features, ids[q : q + 1, :length], mask[q : q + 1, :length])
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
