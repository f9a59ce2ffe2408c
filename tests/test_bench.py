"""`rvos bench`: the JSON summary's schema and the consistency of its figures, on tiny CPU runs."""

import json
import os
import subprocess
import sys

import pytest
from conftest import frames_to_tensor


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No installed weights, so the runs use random weights wherever the tests run."""
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))


STATS = {"median", "min", "max"}


def bench(*args):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rvos_cli",
            "bench",
            *args,
            "--json",
            "--device",
            "cpu",
            "--repeat",
            "1",
            "--threads",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_consistent(summary, null_model=False):
    # A no-op model alone does nothing: no figure for it (issue 24: "model alone 5651047 fps").
    assert (summary["model_fps"] is None) == null_model
    for key in ("end_to_end_fps",) if null_model else ("model_fps", "end_to_end_fps"):
        assert set(summary[key]) == STATS
        assert 0 < summary[key]["min"] <= summary[key]["median"] <= summary[key]["max"]
    stages = summary["stage_seconds"]
    assert {"open", "load", "decode", "model", "finish"} <= set(stages)
    assert all(set(s) == STATS and s["median"] >= 0 for s in stages.values())
    assert stages["model"]["median"] > 0 or null_model  # a no-op model may round to 0 s
    # With one measured run the end-to-end time contains that run's model stage.
    end_to_end_seconds = summary["frames"] / summary["end_to_end_fps"]["median"]
    assert end_to_end_seconds >= stages["model"]["median"] * 0.999
    assert summary["memory"]["peak_rss_mib"] > 50
    assert summary["memory"]["peak_gpu_allocated_mib"] is None
    system = summary["system"]
    assert system["device"] == "cpu" and system["precision"] == "fp32" and system["threads"] == 2
    assert system["torch"]


def test_bench_propagate_flow():
    summary = bench("propagate", "--model", "flow", "--frames", "6", "--size", "48x64")
    assert summary["task"] == "propagate" and summary["model"] == "flow"
    assert summary["frames"] == 6 and summary["parameters"] == 0
    assert summary["settings"] == {"clip_size": [48, 64], "model_input": [48, 64], "input": [48, 64]}
    check_consistent(summary)


def test_bench_refer_null_model_default_clip():
    """`--model none`: the whole command around a no-op model, on the default 1280x720 clip."""
    summary = bench("refer", "--model", "none", "--frames", "6", "--window", "4", "--warmup", "0")
    assert summary["model"] == "none" and summary["parameters"] == 0 and summary["frames"] == 6
    assert summary["weights"] == "none (no-op model)"
    assert summary["settings"] == {
        "queries": 2,
        "window": 4,
        "clip_size": [720, 1280],
        "model_input": [360, 640],
        "input": [360, 640],
    }
    assert {"decode", "preprocess", "overlay", "finish"} <= set(summary["stage_seconds"])
    check_consistent(summary, null_model=True)


def test_bench_propagate_null_model_clip_size():
    summary = bench("propagate", "--model", "none", "--frames", "5", "--clip-size", "96x160", "--warmup", "0")
    assert summary["model"] == "none" and summary["parameters"] == 0 and summary["frames"] == 5
    assert summary["weights"] == "none (no-op model)"
    # A clip smaller than the model's short side (480) is not upscaled, as `rvos propagate` does.
    assert summary["settings"] == {"clip_size": [96, 160], "model_input": [96, 160], "input": [96, 160]}
    assert {"decode", "write", "overlay"} <= set(summary["stage_seconds"])
    check_consistent(summary, null_model=True)


def test_bench_clip_size_resizes_like_the_command():
    from rvos_cli.pipelines.bench import BenchRequest, NullReferOptions
    from rvos_cli.pipelines.measure import NullPropagator, clip_size

    request = BenchRequest("refer", NullReferOptions())
    assert clip_size(request) == (720, 1280)
    assert clip_size(BenchRequest("refer", NullReferOptions(), clip_size=(1080, 1920))) == (1080, 1920)
    assert NullPropagator().working_size(720, 1280) == (480, 853)  # RDE-VOS's own rounding


def test_null_models_return_the_right_shapes():
    import numpy as np
    import torch

    from rvos_cli.pipelines.measure import NullPropagator, NullReferrer, NullTokenizer

    model = NullReferrer()
    assert model.input_size(720, 1280) == (360, 640)
    frames = [np.zeros((72, 128, 3), np.uint8)] * 3
    size = model.input_size(72, 128)
    video = model.model_input(model.preprocess(frames, size), size)
    assert video.shape == (3, 3, *size) and video.dtype == torch.float32
    ids, attention, _ = NullTokenizer().encode(["a", "b"])
    out = model.decode(model.encode(video), ids, attention)
    masks, scores, selected = model.select(out, size, (72, 128))
    assert masks.shape == (2, 3, 72, 128) and masks.dtype == torch.uint8 and 0 < masks.float().mean() < 1
    assert scores.shape[0] == 2 and selected.tolist() == [0, 0]
    labels = np.zeros((72, 128), np.uint8)
    labels[10:20, 10:30] = 2
    propagator = NullPropagator()
    propagator.start(frames[0], labels)
    assert np.array_equal(propagator.step(frames[1]), labels)


@pytest.mark.slow
def test_bench_propagate_rdevos_random_weights():
    summary = bench("propagate", "--model", "rdevos", "--frames", "3", "--size", "48x64")
    assert summary["model"] == "rdevos" and summary["parameters"] == 64_020_836
    assert summary["weights"].startswith("random")
    check_consistent(summary)


@pytest.mark.slow
def test_bench_refer_random_weights():
    summary = bench("refer", "--frames", "4", "--window", "4", "--queries", "2", "--size", "64x96")
    assert summary["model"] == "mttr" and summary["parameters"] == 146_489_864
    assert summary["settings"] == {
        "queries": 2,
        "window": 4,
        "clip_size": [64, 96],
        "model_input": [64, 96],
        "input": [64, 96],
    }
    assert {"preprocess", "postprocess", "overlay"} <= set(summary["stage_seconds"])
    check_consistent(summary)


def test_bench_rejects_bad_arguments():
    for args, message in (
        (["dance"], "unknown bench task"),
        (["refer", "--size", "big"], "is not HxW"),
        (["propagate", "--frames", "1"], "--frames must be at least 2"),
        (["refer", "--clip-size", "720"], "--clip-size '720' is not HxW"),
        (["refer", "--size", "64x96", "--clip-size", "720x1280"], "cannot be used together"),
        (["refer", "--model", "none", "--weights", "mttr-ytvos"], "cannot be used with --model none"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "rvos_cli", "bench", *args], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2
        assert message in result.stderr and result.stdout == ""


# --- the non-model path: faster code, same pixels ----------------------------------------------


def _overlay_reference(frame, masks, colors, alpha=0.6):
    """The per-pixel float32 formula the overlay used before it became a table lookup."""
    import cv2
    import numpy as np

    out = frame.astype(np.float32)
    thickness = max(1, round(min(frame.shape[:2]) / 480))
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (2 * thickness + 1, 2 * thickness + 1))
    for mask, color in zip(masks, colors):
        mask = mask > 0
        color = np.asarray(color, np.float32)
        out[mask] = (1 - alpha) * frame[mask].astype(np.float32) + alpha * color
        inner = cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE)
        out[mask & (inner == 0)] = color
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def test_vectorised_overlay_gives_the_same_pixels():
    import numpy as np

    from rvos_cli.video.overlay import overlay_labels, overlay_masks, query_color
    from rvos_cli.video.palette import DAVIS_PALETTE

    rng = np.random.default_rng(0)
    for case in range(24):
        height, width = (int(v) for v in rng.integers(8, 70, 2))
        if case == 0:
            height, width = 720, 1280  # contour width 2 at this size
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        masks = (rng.random((3, height, width)) < 0.3).astype(np.uint8)
        masks[1] = 0  # an empty query
        masks[2, : height // 2, width // 3 :] = 1  # a block touching the frame's edge
        alpha = 0.6 if case % 2 else float(rng.random())
        colors = [query_color(q) for q in range(3)]
        assert np.array_equal(overlay_masks(frame, masks, alpha), _overlay_reference(frame, masks, colors, alpha))
        labels = (rng.integers(0, 4, (height, width)) * (rng.random((height, width)) < 0.5)).astype(np.int32)
        labels[height // 3 :, : width // 2] = 5
        ids = [i for i in range(1, 6) if (labels == i).any()]
        expected = _overlay_reference(frame, [labels == i for i in ids], [DAVIS_PALETTE[i] for i in ids])
        assert np.array_equal(overlay_labels(frame, labels), expected)
        assert np.array_equal(overlay_labels(frame, labels.astype(np.uint8)), expected)


def _pil_resize_reference(image, size):
    """PIL's two fixed-point passes written out plainly (int64, one tap at a time): the oracle that the
    fast forms are checked against here; the fixtures check it against PIL itself."""
    import numpy as np

    from rvos_cli.models.common.frames import PRECISION_BITS, bilinear_coefficients

    def one_pass(image, out_size):
        first, weights = bilinear_coefficients(image.shape[1], out_size)
        acc = np.full((image.shape[0], out_size, image.shape[2]), 1 << (PRECISION_BITS - 1), np.int64)
        for k in range(weights.shape[1]):
            index = np.minimum(first + k, image.shape[1] - 1)
            acc += image.astype(np.int64)[:, index] * weights[None, :, k, None]
        return np.clip(acc >> PRECISION_BITS, 0, 255).astype(np.uint8)

    height, width = size
    if width != image.shape[1]:
        image = one_pass(image, width)
    if height != image.shape[0]:
        image = one_pass(image.transpose(1, 0, 2), height).transpose(1, 0, 2)
    return image


def test_fast_preprocessing_is_bit_exact():
    """The reader's numpy resize and the device's torch resize give PIL's pixels; a window resized on
    the device and normalised equals the CPU path's model input bit for bit."""
    import numpy as np
    import torch

    from rvos_cli.models.common.frames import (
        normalize_video,
        resize_bilinear_pil,
        resize_video_pil,
    )
    from rvos_cli.pipelines.measure import NullReferrer

    rng = np.random.default_rng(1)
    for (height, width), size in (
        ((720, 1280), (360, 640)),  # both passes an exact 2x shrink: OpenCV's convolution (`uniform_run`)
        ((100, 200), (50, 101)),  # the vertical pass only
        ((1080, 1920), (360, 640)),
        ((480, 854), (360, 640)),
        ((61, 97), (360, 575)),  # upscaling
        ((361, 641), (360, 640)),
        ((40, 30), (40, 12)),  # one pass only
        ((100, 50), (300, 10)),
        ((3, 200), (70, 1)),
    ):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        expected = _pil_resize_reference(image, size)
        assert np.array_equal(resize_bilinear_pil(image, size), expected), (height, width, size)
        for extreme in (np.full_like(image, 255), (image > 127).astype(np.uint8) * 255):  # saturation, edges
            assert np.array_equal(resize_bilinear_pil(extreme, size), _pil_resize_reference(extreme, size))
        on_device = resize_video_pil(torch.from_numpy(np.stack([image, image[::-1]])), size)
        assert np.array_equal(on_device[0].numpy(), expected), (height, width, size)
    frames = [rng.integers(0, 256, (72, 128, 3), dtype=np.uint8) for _ in range(3)]
    model = NullReferrer()
    reader = model.model_input(model.preprocess(frames, (36, 64)), (36, 64))
    device = model.model_input(torch.from_numpy(np.stack(frames)), (36, 64))
    assert torch.equal(reader, frames_to_tensor(frames, (36, 64)))
    assert torch.equal(device, reader)
    every_value = rng.integers(0, 256, (2, 30, 256, 3), dtype=np.uint8)
    every_value[0, 0] = np.arange(256, dtype=np.uint8)[:, None]  # each value in each channel
    every_value = torch.from_numpy(every_value)
    assert torch.equal(normalize_video(every_value), normalize_video(every_value, lookup=False))


def test_label_pngs_decode_to_the_same_labels(tmp_path):
    import numpy as np

    from rvos_cli.video.palette import encode_palette_png, read_label_png
    from rvos_cli.video.writers import PaletteWriter, encode_labels_png

    rng = np.random.default_rng(2)
    labels = np.zeros((72, 128), np.uint8)
    labels[10:40, 20:90] = 1
    labels[30:70, 60:120] = 3
    for index, case in enumerate((labels, rng.integers(0, 6, (31, 17)).astype(np.uint8))):
        (tmp_path / f"old{index}.png").write_bytes(encode_palette_png(case))
        (tmp_path / f"new{index}.png").write_bytes(encode_labels_png(case))
        assert np.array_equal(read_label_png(tmp_path / f"new{index}.png"), case)
        assert np.array_equal(read_label_png(tmp_path / f"old{index}.png"), case)
    with PaletteWriter(tmp_path / "masks", ["00000"]) as pngs:
        pngs.write(0, labels)
    assert np.array_equal(read_label_png(tmp_path / "masks" / "00000.png"), labels)
