"""SAM 2's and SAM 3's tracker's pre- and post-processing in torch against transformers' processors.

Mask prompts, boxes and points go through transformers' own processor code everywhere (it needs only
torch); the frames and `post_process_masks` need the processors' torchvision backend, so those
comparisons run where torchvision imports and skip elsewhere, while the arithmetic they rely on is
checked everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import sam2_reference as reference
import torch
import torch.nn.functional as F
import transformers as tf

from rvos_cli.models.common.frames import IMAGENET_MEAN, IMAGENET_STD
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.sam2 import config_for, tiny_config
from rvos_cli.models.sam2.preprocess import (
    STANDARD_MEAN,
    STANDARD_STD,
    FrameTransform,
    frame_transform,
    resize_uint8,
    upsample_logits,
)

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["sam2", "sam3-tracker"]
needs_torchvision = pytest.mark.skipif(
    not reference.torchvision_available(), reason="transformers' SAM processors need torchvision, absent here"
)


def random_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def add_to_session(config, height: int, width: int, **inputs) -> tf.Sam2VideoInferenceSession:
    """transformers' `add_inputs_to_inference_session` for object 1 on frame 0 of a `height` x `width` video."""
    session = tf.Sam2VideoInferenceSession(video_height=height, video_width=width, dtype=torch.float32)
    reference.processor_for(config, real=False).add_inputs_to_inference_session(session, 0, 1, **inputs)
    return session


def test_normalisation_is_the_published_one():
    assert frame_transform(config_for("hiera-tiny")) == FrameTransform(1024, IMAGENET_MEAN, IMAGENET_STD)
    assert frame_transform(config_for("sam3-tracker")) == FrameTransform(1008, STANDARD_MEAN, STANDARD_STD)


@needs_torchvision
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(48, 80), (100, 60), (64, 64), (56, 56)])
def test_frames_equal_the_video_processor(name, shape):
    config = tiny_config(name)
    frames = random_frames(3, *shape)
    expected = reference.processor_for(config, real=True).video_processor(videos=frames, return_tensors="pt")
    got = frame_transform(config).frames(torch.from_numpy(frames))
    torch.testing.assert_close(got, expected.pixel_values_videos[0], rtol=0, atol=0)


@needs_torchvision
@pytest.mark.parametrize("name", ["hiera-tiny", "sam3-tracker"])
def test_480p_frames_equal_the_video_processor_at_the_real_size(name):
    config = config_for(name)
    frames = random_frames(1, 480, 854)
    expected = reference.processor_for(config, real=True).video_processor(videos=frames, return_tensors="pt")
    got = frame_transform(config).frames(torch.from_numpy(frames))
    torch.testing.assert_close(got, expected.pixel_values_videos[0], rtol=0, atol=0)


@needs_torchvision
def test_logits_upsample_as_post_process_masks():
    config = tiny_config("sam2")
    logits = torch.randn(3, 1, 16, 16) * 5
    expected = reference.processor_for(config, real=True).post_process_masks([logits], [[45, 70]], binarize=False)[0]
    torch.testing.assert_close(upsample_logits(logits, (45, 70)), expected, rtol=0, atol=0)


def test_a_uniform_frame_normalises_to_the_formula():
    transform = FrameTransform(32)
    color = np.array([10, 128, 250], np.uint8)
    frames = np.broadcast_to(color, (1, 20, 30, 3)).copy()
    got = transform.frames(torch.from_numpy(frames))
    assert got.shape == (1, 3, 32, 32) and got.dtype == torch.float32
    expected = (color / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(got[0, :, 5, 7].numpy(), expected, rtol=1e-6)
    assert (got == got[:, :, :1, :1]).all()


def test_a_square_frame_of_the_input_size_is_not_resampled():
    frames = random_frames(2, 32, 32)
    got = FrameTransform(32, STANDARD_MEAN, STANDARD_STD).frames(torch.from_numpy(frames))
    expected = torch.from_numpy(frames).permute(0, 3, 1, 2).float().sub(127.5).div(127.5)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_the_float_resize_path_rounds_to_within_one_level_of_the_uint8_kernel(monkeypatch):
    # torchvision resizes uint8 with torch's native kernel on AVX2 CPUs, in float32 then rounding elsewhere
    video = torch.from_numpy(random_frames(2, 50, 90)).permute(0, 3, 1, 2).contiguous()
    native = resize_uint8(video, (64, 64))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    rounded = resize_uint8(video, (64, 64))
    assert native.dtype == rounded.dtype == torch.uint8 and native.shape == (2, 3, 64, 64)
    assert (native.int() - rounded.int()).abs().max() <= 1
    float_resized = F.interpolate(video.float(), (64, 64), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(rounded, float_resized.round().to(torch.uint8))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(40, 72), (70, 50)])
def test_mask_prompts_equal_the_processor(name, shape):
    config = tiny_config(name)
    mask = np.zeros(shape, bool)
    mask[5:23, 9:41] = True
    mask[30:, 3:7] = True
    session = add_to_session(config, *shape, input_masks=mask)
    expected = session.mask_inputs_per_obj[0][0]
    got = frame_transform(config).mask(torch.from_numpy(mask))
    assert got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert 0 < got.sum() < got.numel()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "prompt",
    [
        ObjectPrompt(1, box=(3.5, 4, 60, 33)),
        ObjectPrompt(1, points=((10, 12, 1), (50.25, 30, 0))),
        ObjectPrompt(1, box=(0, 0, 72, 40), points=((36, 20, 1),)),
    ],
)
def test_boxes_and_points_equal_the_processor(name, prompt):
    config = tiny_config(name)
    expected = add_to_session(config, 40, 72, **reference.processor_inputs(prompt)).point_inputs_per_obj[0][0]
    got = frame_transform(config).prompt(prompt, 40, 72)
    for key in ("point_coords", "point_labels"):
        assert got[key].dtype == expected[key].dtype
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_logits_upsample_bilinearly_without_a_threshold():
    logits = torch.tensor([[[[-2.0, 2.0]]]])
    up = upsample_logits(logits, (1, 4))
    torch.testing.assert_close(up, torch.tensor([[[[-2.0, -1.0, 1.0, 2.0]]]]))
