"""ReferFormer properties without the parity fixtures: every backbone builds and runs, batching and
the split into encode_video / decode change nothing, and checkpoints are checked strictly."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from rvos_cli.errors import CheckpointError
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.referformer import (
    BACKBONES,
    detect_backbone,
    load_referformer,
    select_referred,
)
from rvos_cli.models.referformer.layout import layout

ATOL = {"pred_logits": 1e-4, "pred_boxes": 1e-4, "reference_points": 1e-4, "pred_masks": 2e-3}


@lru_cache(maxsize=1)
def shared_weights() -> dict[str, torch.Tensor]:
    """Random weights of the parts every backbone shares (drawn once: the text encoder alone is 125M values)."""
    return random_state_dict(layout("resnet50"), seed=0)


def random_model(backbone: str):
    official, shared = layout(backbone), shared_weights()
    own = {k: s for k, s in official.floating().items() if k not in shared or tuple(shared[k].shape) != s}
    state = {k: shared[k] for k in official.floating() if k not in own}
    state.update(random_state_dict(CheckpointLayout("referformer", backbone, own), seed=1))
    return load_referformer(state)


def clip(frames: int, height: int, width: int, queries=((0, 713, 2335, 2),)):
    """Random frames and right-padded RoBERTa ids [B, L] with their attention mask."""
    video = torch.randn(frames, 3, height, width, generator=torch.Generator().manual_seed(1))
    length = max(len(q) for q in queries)
    ids = torch.ones(len(queries), length, dtype=torch.long)
    mask = torch.zeros(len(queries), length, dtype=torch.long)
    for i, q in enumerate(queries):
        ids[i, : len(q)] = torch.tensor(q)
        mask[i, : len(q)] = 1
    return video, ids, mask


@pytest.fixture(scope="module")
def resnet50():
    return random_model("resnet50")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_runs_on_odd_sizes(backbone):
    model = random_model(backbone)
    video, ids, mask = clip(2, 61, 90)
    with torch.inference_mode():
        out = model(video, ids, mask)
    assert out["pred_logits"].shape == (1, 2, 5, 1)
    assert out["pred_boxes"].shape == (1, 2, 5, 4)
    assert out["pred_masks"].shape == (1, 2, 5, 16, 23)
    assert out["reference_points"].shape == (1, 2, 5, 2)
    assert all(torch.isfinite(v).all() for v in out.values())
    masks, scores, selected = select_referred(out, original_size=(122, 180))
    assert masks.shape == (1, 2, 122, 180) and scores.shape == (1, 5) and selected.shape == (1,)


def test_video_swin_runs_on_more_than_eight_frames():
    """T > 8: frames are padded to 16 and the odd blocks shift by 4 frames (-100 mask on the padded clip)."""
    model = random_model("video-swin-t")
    video, ids, mask = clip(10, 32, 32)
    with torch.inference_mode():
        out = model(video, ids, mask)
        first = model(video[:9], ids, mask)
    assert out["pred_masks"].shape == (1, 10, 5, 8, 8)
    assert torch.isfinite(out["pred_masks"]).all()
    # Video Swin mixes frames: the first nine frames see the tenth.
    assert not torch.allclose(out["pred_masks"][:, :9], first["pred_masks"], atol=ATOL["pred_masks"])


def test_batched_queries_equal_one_forward_per_query(resnet50):
    video, ids, mask = clip(2, 48, 80, queries=((0, 627, 1104, 2335, 15, 5, 2), (0, 102, 2)))
    with torch.inference_mode():
        features = resnet50.encode_video(video)
        batched = resnet50.decode(features, ids, mask, aux_outputs=True)
        whole = resnet50(video, ids, mask)
        for q in range(2):
            n = int(mask[q].sum())
            single = resnet50.decode(features, ids[q : q + 1, :n], mask[q : q + 1, :n], aux_outputs=True)
            for key in ("pred_logits", "pred_boxes", "pred_masks", "reference_points"):
                torch.testing.assert_close(batched[key][q : q + 1], single[key], atol=ATOL[key], rtol=0)
            for ours, theirs in zip(batched["aux_outputs"], single["aux_outputs"]):
                torch.testing.assert_close(
                    ours["pred_masks"][q : q + 1], theirs["pred_masks"], atol=ATOL["pred_masks"], rtol=0
                )
    for key in ("pred_logits", "pred_boxes", "pred_masks"):
        torch.testing.assert_close(whole[key], batched[key], atol=0, rtol=0)


def test_wrong_checkpoint_is_one_error_naming_keys():
    state = random_state_dict(layout("resnet50"))
    state.pop("controller.layers.0.weight")
    state["controller.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as error:
        load_referformer(state)
    message = str(error.value)
    assert "missing: controller.layers.0.weight" in message and "unexpected: controller.extra" in message
    # A backbone that the keys contradict names the backbone's keys.
    with pytest.raises(CheckpointError, match="missing: backbone.0.body.layer3.6"):
        load_referformer(random_state_dict(layout("resnet50")), backbone="resnet101")
    with pytest.raises(CheckpointError, match="no ReferFormer backbone"):
        load_referformer({"model": {"weight": torch.zeros(1)}})


def test_box_heads_take_the_canonical_copy_over_the_alias():
    official = layout("resnet50")
    state = random_state_dict(official)
    alias, canonical = next(iter(official.aliases.items()))
    state[alias] = state[canonical] + 1  # the original loads the alias first, then `bbox_embed.*` overwrites it
    model = load_referformer(state)
    assert torch.equal(model.get_parameter(canonical), state[canonical])
    del state[alias]  # a file may lack the aliases (random_state_dict draws none)
    model = load_referformer(state)
    assert torch.equal(model.get_parameter(canonical), state[canonical])
    assert not any(name.startswith("transformer.decoder.bbox_embed") for name in model.state_dict())


@pytest.mark.parametrize("backbone", BACKBONES)
def test_backbone_is_detected_from_the_keys(backbone):
    state = {name: torch.empty(shape, device="meta") for name, shape in layout(backbone).shapes.items()}
    assert detect_backbone(state) == backbone
