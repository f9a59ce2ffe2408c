"""`rvos refer`'s pipeline with each referring model (random weights in the model's own layout):
the pipeline is model-agnostic, so every model writes the same outputs and summary."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.registry import MODELS
from rvos_cli.models.tokenizer import write_stand_in_tokenizer
from rvos_cli.pipelines.build import build_referrer
from rvos_cli.pipelines.device import Runtime
from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions, WindowOptions, refer_options
from rvos_cli.pipelines.refer import ReferRequest, run_refer
from rvos_cli.ui import Reporter
from rvos_cli.video import open_video
from rvos_cli.video.synthetic import write_sample
from rvos_cli.weights.resolve import ResolvedWeights

FRAMES, FPS, WIDTH, HEIGHT = 7, 12.0, 90, 60
# The smallest published backbone of each model keeps the test quick.
BACKBONES = {"mttr": "video-swin-t", "referformer": "resnet50", "soc": "video-swin-t"}
QUERIES = {"mttr": 50, "referformer": 5, "soc": 20}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    write_sample(folder / "clip.mp4", seconds=FRAMES / FPS, fps=FPS, width=WIDTH, height=HEIGHT, audio=False)
    return folder / "clip.mp4", write_stand_in_tokenizer(folder / "tokenizer")


@pytest.mark.parametrize("model", sorted(MODELS[name].name for name in BACKBONES))
def test_every_referring_model_writes_the_same_outputs(model, clip, tmp_path):
    video, tokenizer = clip
    spec = MODELS[model]
    options = refer_options(model, size=48, max_size=96)
    weights = ResolvedWeights(model, random_state_dict(spec.layout(BACKBONES[model]), seed=5), tokenizer=tokenizer)
    built = build_referrer(options, Runtime(*_cpu()), weights)
    request = ReferRequest(
        video,
        ["A person", "the red  ball"],
        options,
        RuntimeOptions("cpu"),
        ClipOptions(),
        WindowOptions(4, 1),
        output=tmp_path / "out.mp4",
        masks_dir=tmp_path / "masks",
    )
    summary = run_refer(request, Reporter(quiet=True), built=built).to_json()

    assert summary["model"] == model and summary["frames"] == FRAMES
    assert summary["model_input"] == {"height": 48, "width": 72}
    assert [(w["start"], w["end"]) for w in summary["queries"][0]["windows"]] == [(0, 4), (3, 7)]
    for query in summary["queries"]:
        assert all(0 <= w["score"] <= 1 and 0 <= w["object_query"] < QUERIES[model] for w in query["windows"])
    info = open_video(tmp_path / "out.mp4").info
    assert (info.num_frames, info.width, info.height) == (FRAMES, WIDTH, HEIGHT)
    for query in (0, 1):
        masks = [
            cv2.imread(str(tmp_path / "masks" / str(query) / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE)
            for i in range(FRAMES)
        ]
        assert all(m.shape == (HEIGHT, WIDTH) and set(np.unique(m)) <= {0, 255} for m in masks)
    expected = ["a person", "the red ball"] if model == "mttr" else ["A person", "the red  ball"]
    assert [q["text"] for q in summary["queries"]] == expected  # MTTR lower-cases; the others keep the text


def _cpu():
    import torch

    return torch.device("cpu"), "fp32"


@pytest.mark.parametrize("model", ["referformer", "soc"])
def test_queries_decoded_in_groups_give_the_same_result(model, clip, tmp_path):
    """With `decode_frames` below queries x frames the pipeline decodes the window's queries in groups
    (bounding the decode's memory); the masks and scores are those of one batched decode."""
    video, tokenizer = clip
    spec = MODELS[model]
    options = refer_options(model, size=48, max_size=96)
    weights = ResolvedWeights(model, random_state_dict(spec.layout(BACKBONES[model]), seed=5), tokenizer=tokenizer)
    built = build_referrer(options, Runtime(*_cpu()), weights)
    results = {}
    for budget in (None, 4):  # 4: one query per decode of a 4-frame window
        built[0].decode_frames = budget
        request = ReferRequest(
            video,
            ["A person", "the red  ball", "a dog"],
            options,
            RuntimeOptions("cpu"),
            ClipOptions(),
            WindowOptions(4, 1),
            output=None,
            masks_dir=tmp_path / f"masks-{budget}",
            overlay=False,
        )
        summary = run_refer(request, Reporter(quiet=True), built=built).to_json()
        masks = [
            cv2.imread(str(tmp_path / f"masks-{budget}" / str(q) / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE)
            for q in range(3)
            for i in range(FRAMES)
        ]
        results[budget] = summary["queries"], masks
    (grouped, grouped_masks), (batched, batched_masks) = results[4], results[None]
    assert all(np.array_equal(a, b) for a, b in zip(grouped_masks, batched_masks))
    for one, other in zip(grouped, batched):
        for a, b in zip(one["windows"], other["windows"]):
            assert a["object_query"] == b["object_query"] and a["score"] == pytest.approx(b["score"], abs=1e-5)
