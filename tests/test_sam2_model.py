"""SAM 2.1 / SAM 3 tracker: the published configs, loading Hugging Face folders, and the propagator's bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import sam2_reference as reference
import torch
import transformers as tf
from safetensors.torch import load_file, save_file

from rvos_cli.errors import CheckpointError, InputError
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.sam2 import HUB_REPOS, SIZES, Sam2Propagator, config_for, load_sam2, random_model, tiny_config

# Parameters of the official checkpoints (SAM 2 README: 38.9 M, 46 M, 80.8 M, 224.4 M).
pytestmark = pytest.mark.usefixtures("one_thread")

PUBLISHED_MILLIONS = {"hiera-tiny": 38.9, "hiera-small": 46.0, "hiera-base-plus": 80.8, "hiera-large": 224.4}


@pytest.fixture(scope="module")
def sam2_model():
    return reference.lively_model("sam2")


def parameters_of(config) -> int:
    model_class = tf.Sam3TrackerVideoModel if config.model_type == "sam3_tracker_video" else tf.Sam2VideoModel
    with torch.device("meta"):
        return sum(p.numel() for p in model_class(config).parameters())


@pytest.mark.parametrize("size", SIZES)
def test_the_real_configs_have_the_published_sizes(size):
    config = config_for(size)
    assert abs(parameters_of(config) / 1e6 - PUBLISHED_MILLIONS[size]) < 0.1
    assert (config.image_size, config.num_maskmem, config.max_object_pointers_in_encoder) == (1024, 7, 16)
    assert config.enable_temporal_pos_encoding_for_object_pointers and config.enable_occlusion_spatial_embedding
    assert HUB_REPOS[size] == f"facebook/sam2.1-{size}"


def test_the_sam3_tracker_config_is_facebook_sam3s():
    config = config_for("sam3-tracker")
    assert config.image_size == 1008 and config.vision_config.backbone_feature_sizes == [
        [288, 288],
        [144, 144],
        [72, 72],
    ]
    assert (config.num_maskmem, config.max_object_pointers_in_encoder, config.max_cond_frame_num) == (7, 16, 4)
    backbone = config.vision_config.backbone_config
    assert (backbone.hidden_size, backbone.num_hidden_layers, backbone.patch_size) == (1024, 32, 14)


def test_a_saved_sam2_folder_loads_with_its_weights(tmp_path, sam2_model):
    sam2_model.save_pretrained(tmp_path)
    loaded = load_sam2(tmp_path)
    assert isinstance(loaded, tf.Sam2VideoModel) and not loaded.training
    expected = sam2_model.state_dict()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)


def test_a_sam3_folder_loads_its_tracker(tmp_path):
    # facebook/sam3 holds the whole SAM 3 (config model_type sam3_video): the tracker's weights under
    # tracker_model., its neck as tracker_neck., and the ViT backbone it shares with the detector.
    tracker = random_model(tiny_config("sam3-tracker"), seed=1)
    state = {}
    for key, value in tracker.state_dict().items():
        if key.startswith("vision_encoder.backbone."):
            key = "detector_model." + key
        elif key.startswith("vision_encoder.neck."):
            key = "tracker_neck." + key.removeprefix("vision_encoder.neck.")
        else:
            key = "tracker_model." + key
        state[key] = value.contiguous()
    state["detector_model.unused.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "model.safetensors")
    config = tf.Sam3VideoConfig(tracker_config=tracker.config.to_dict())
    (tmp_path / "config.json").write_text(config.to_json_string())
    loaded = load_sam2(tmp_path)
    assert isinstance(loaded, tf.Sam3TrackerVideoModel)
    expected = tracker.state_dict()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path, sam2_model):
    with pytest.raises(InputError, match="not a folder"):
        load_sam2(tmp_path / "missing")
    with pytest.raises(InputError, match="no config.json"):
        load_sam2(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam2"}))
    with pytest.raises(CheckpointError, match="image-only SAM 2"):
        load_sam2(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_sam2(tmp_path)
    sam2_model.config.to_json_file(tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_sam2(tmp_path)


def test_weights_that_do_not_fit_are_refused(tmp_path, sam2_model):
    sam2_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"num_maskmem": "seven"}))
    with pytest.raises(CheckpointError, match="not a valid sam2_video config"):
        load_sam2(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    weights = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(CheckpointError, match="cannot load the weights"):
        load_sam2(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(weights)
    state = load_file(tmp_path / "model.safetensors")
    del state["memory_encoder.projection.weight"]
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="missing or mis-shaped"):
        load_sam2(tmp_path)


def test_a_processor_with_other_preprocessing_is_refused(tmp_path, sam2_model):
    sam2_model.save_pretrained(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({"target_size": 64, "video_processor": {}}))
    assert isinstance(load_sam2(tmp_path), tf.Sam2VideoModel)  # the published settings pass
    settings = {"size": {"height": 64, "width": 64}, "image_mean": [0.5, 0.5, 0.5]}
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(settings))
    with pytest.raises(CheckpointError, match="image_mean"):
        load_sam2(tmp_path)


def test_an_old_transformers_is_refused_with_the_version_needed(tmp_path, monkeypatch, sam2_model):
    # the module `import transformers` gives now (transformers may replace its lazy module in sys.modules)
    monkeypatch.setattr(sys.modules["transformers"], "__version__", "4.57.6")
    with pytest.raises(InputError, match=r"transformers >= 5\.0\.0.*this is 4\.57\.6"):
        load_sam2(tmp_path)
    with pytest.raises(InputError, match=r"transformers >= 5\.0\.0"):
        Sam2Propagator(sam2_model)


def frame(height: int = 40, width: int = 72) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


def test_the_propagator_refuses_bad_input(sam2_model):
    propagator = Sam2Propagator(sam2_model)
    labels = np.zeros((40, 72), np.uint8)
    with pytest.raises(RuntimeError, match="start"):
        propagator.step(frame())
    with pytest.raises(InputError, match="no object"):
        propagator.start(frame(), labels)
    with pytest.raises(InputError, match="72x40"):
        propagator.start(frame(), np.zeros((30, 72), np.uint8))
    with pytest.raises(InputError, match="outside the 72x40 frame"):
        propagator.start(frame(), None, [ObjectPrompt(1, box=(10, 10, 80, 30))])
    labels[5:10, 5:10] = 1
    with pytest.raises(InputError, match="a mask and a box/points"):
        propagator.start(frame(), labels, [ObjectPrompt(1, box=(10, 10, 20, 30))])
    with pytest.raises(InputError, match="two box/point prompts"):
        propagator.start(frame(), None, [ObjectPrompt(2, points=((3, 4, 1),)), ObjectPrompt(2, box=(1, 2, 3, 4))])
    first = propagator.start(frame(), labels, [ObjectPrompt(2, points=((30, 20, 1),))])
    assert first.shape == (40, 72) and first.dtype == np.uint8
    assert set(propagator.object_scores) == {1, 2}
    with pytest.raises(InputError, match="tracked since frame 0"):
        propagator.step(frame(), None, [ObjectPrompt(2, box=(1, 2, 30, 20))])
    with pytest.raises(InputError, match="share a size"):
        propagator.step(frame(50, 72))
    assert propagator.step(frame()).shape == (40, 72)  # a refused frame does not count


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(object_id=0, box=(1, 2, 3, 4)), "out of range"),
        (dict(object_id=256, box=(1, 2, 3, 4)), "out of range"),
        (dict(object_id=1, box=(5, 2, 5, 4)), "no area"),
        (dict(object_id=1, points=((1, 2, 0),)), "no point on it"),
        (dict(object_id=1, points=((1, 2, 2),)), "label other than"),
        (dict(object_id=1), "no box and no point"),
    ],
)
def test_object_prompts_check_themselves(kwargs, message):
    with pytest.raises(InputError, match=message):
        ObjectPrompt(**kwargs)


def test_an_object_id_already_in_the_labels_is_ignored_later(sam2_model):
    propagator = Sam2Propagator(sam2_model)
    labels = np.zeros((40, 72), np.uint8)
    labels[5:20, 5:30] = 1
    propagator.start(frame(), labels)
    moved = np.zeros_like(labels)
    moved[20:35, 40:70] = 1
    propagator.step(frame(), moved)
    assert propagator.sessions[1].first_frame == 0 and list(propagator.sessions) == [1]


def test_compile_routes_the_image_encoder_through_the_compiled_stage(sam2_model):
    propagator = Sam2Propagator(sam2_model)
    calls = []

    def stage(function):
        def counted(*args, **kwargs):
            calls.append(args[0].shape)
            return function(*args, **kwargs)

        return counted

    propagator.compile(stage)
    labels = np.zeros((40, 72), np.uint8)
    labels[5:20, 5:30] = 1
    propagator.start(frame(), labels)
    propagator.step(frame())
    assert calls == [(1, 3, 64, 64)] * 2
