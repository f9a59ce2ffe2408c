"""SOC behaviour the parity fixtures do not cover: both backbones, long and odd clips, batching, loading.

Random weights in the project's own layout (no fixtures needed); small clips keep the file fast.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from rvos_cli.errors import CheckpointError
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.soc import (
    BACKBONES,
    detect_backbone,
    load_soc,
    select_referred,
)
from rvos_cli.models.soc import model as soc_model
from rvos_cli.models.soc.layout import layout

ATOL = {"pred_cls": 1e-4, "pred_boxes": 1e-4, "pred_masks": 1e-2}


@pytest.fixture(scope="module")
def state():
    return random_state_dict(layout("video-swin-t"), seed=0)


@pytest.fixture(scope="module")
def model(state):
    return load_soc(state)


@pytest.fixture(scope="module")
def texts():
    ids = torch.tensor([[0, 1437, 2422, 11, 2, 1, 1], [0, 909, 4655, 10, 4806, 11, 2]])
    return ids, (ids != 1).long()


def clip(t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def check_shapes(out: dict, b: int, t: int, h: int, w: int, classes: int = 1) -> None:
    assert out["pred_cls"].shape == (b, t, 20, classes)
    assert out["pred_boxes"].shape == (b, t, 20, 4)
    assert out["pred_masks"].shape == (b, t, 20, -(-h // 4), -(-w // 4))
    assert out["pred_logit"].shape == (b, 20, 256)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_both_backbones_build_and_are_detected():
    for backbone in BACKBONES:
        official = layout(backbone)
        with torch.device("meta"):
            net = soc_model.SOC(backbone)
        kept = {k for k in official.shapes if k not in official.aliases and not official.is_dropped(k)}
        assert set(net.state_dict()) == kept
        shapes = {k: torch.empty(s, device="meta") for k, s in official.shapes.items()}
        assert detect_backbone(shapes) == backbone


def test_video_swin_b_runs_more_than_8_frames_at_odd_sizes(state, texts):
    """The hidden-case geometry: Swin-B, T > 8 (temporal padding and shifted windows), odd H and W."""
    official = layout("video-swin-b")
    # Draw only what differs from Swin-T (the backbone and the layers reading it): RoBERTa is shared.
    differ = {k: s for k, s in official.floating().items() if k not in state or tuple(state[k].shape) != s}
    net = load_soc({**state, **random_state_dict(CheckpointLayout("soc", "b", differ), seed=1)})
    ids, mask = texts
    with torch.inference_mode():
        out = net(clip(10, 50, 77), ids[:1, :5], mask[:1, :5])
    check_shapes(out, 1, 10, 50, 77)


def test_long_odd_clip_batched_equals_each_expression(model, texts):
    ids, mask = texts
    video = clip(9, 54, 90)
    with torch.inference_mode():
        features = model.encode_video(video)
        batched = model.decode(features, ids, mask)
        check_shapes(batched, 2, 9, 54, 90)
        for i in range(2):
            n = int(mask[i].sum())
            single = model(video, ids[i : i + 1, :n], mask[i : i + 1, :n])
            for key, atol in ATOL.items():
                torch.testing.assert_close(batched[key][i], single[key][0], atol=atol, rtol=0)
    masks, scores, selected = select_referred(batched, original_size=(109, 181))
    assert masks.shape == (2, 9, 109, 181) and masks.dtype == torch.uint8
    assert scores.shape == (2, 20) and selected.shape == (2,)


def test_masks_do_not_depend_on_the_frame_chunking(model, texts, monkeypatch):
    ids, mask = texts
    video = clip(5, 40, 56)
    with torch.inference_mode():
        whole = model(video, ids, mask)
        monkeypatch.setattr(soc_model, "MASK_FRAME_CHUNK_ELEMENTS", 1)  # one frame at a time
        chunked = model(video, ids, mask)
    torch.testing.assert_close(chunked["pred_masks"], whole["pred_masks"], atol=1e-4, rtol=0)


def test_selection_upsamples_each_frame_straight_to_the_original_size(model, texts):
    ids, mask = texts
    with torch.inference_mode():
        out = model(clip(3, 64, 96), ids[1:], mask[1:])
    masks, scores, selected = select_referred(out, original_size=(50, 75))
    expected_scores = out["pred_cls"].sigmoid().mean(1).amax(-1)
    torch.testing.assert_close(scores, expected_scores)
    logits = out["pred_masks"][0, :, int(selected[0])][None]
    expected = torch.nn.functional.interpolate(logits, size=(50, 75), mode="bilinear", align_corners=False)
    assert torch.equal(masks, (expected.sigmoid() > 0.5).to(torch.uint8))


def test_65_class_checkpoint_loads(state, texts):
    """`ytb_from_scratch` may have been trained with 65 classes: num_classes comes from the file."""
    wide = dict(state)
    for i in range(3):
        wide[f"class_embed.{i}.weight"] = torch.randn(65, 256) / 16
        wide[f"class_embed.{i}.bias"] = torch.zeros(65)
    net = load_soc(wide)
    ids, mask = texts
    with torch.inference_mode():
        out = net(clip(2, 64, 96), ids, mask)
    check_shapes(out, 2, 2, 64, 96, classes=65)
    _, scores, _ = select_referred(out, original_size=(64, 96))
    assert scores.shape == (2, 20)


def test_safetensors_conversion_loads(tmp_path, state, model):
    official = layout("video-swin-t")
    path = tmp_path / "soc.safetensors"
    save_file({k: v.contiguous() for k, v in official.kept(state).items()}, str(path))
    loaded = load_soc(path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_alias_values_win_over_bbox_embed(state):
    """SOC registers `bbox_embed` before `transformer`: the `transformer.decoder.bbox_embed` copy wins."""
    swapped = dict(state)
    swapped["transformer.decoder.bbox_embed.0.layers.0.bias"] = torch.full((256,), 0.5)
    net = load_soc(swapped)
    assert torch.equal(net.bbox_embed[0].layers[0].bias, torch.full((256,), 0.5))


def test_a_wrong_file_is_one_checkpoint_error_naming_keys(tmp_path, state):
    broken = dict(state)
    del broken["voc.fq_pos.weight"]
    broken["voc.extra.weight"] = torch.zeros(1)
    broken["controller.layers.2.bias"] = torch.zeros(3)
    path = tmp_path / "broken.pth"
    torch.save({"model_state_dict": broken}, path)
    with pytest.raises(CheckpointError) as error:
        load_soc(path)
    message = str(error.value)
    assert "voc.fq_pos.weight" in message and "voc.extra.weight" in message and "controller.layers.2.bias" in message

    other = tmp_path / "other.pth"
    torch.save({"model": {"backbone.body.conv1.weight": torch.zeros(64, 3, 7, 7)}}, other)
    with pytest.raises(CheckpointError, match="patch_embed"):
        load_soc(other)
