"""Parity on a CUDA GPU in real float32 (TF32 off): the recorded cases of every ported model.

Skipped where no CUDA device is visible (these machines and CI); run on a GPU machine with
`pytest tests/test_cuda_parity.py`.
"""

from __future__ import annotations

import pytest
import torch

from rvos_cli.models.mttr import load_mttr
from rvos_cli.models.rdevos import load_rdevos, propagate_probs
from rvos_cli.models.referformer import load_referformer
from rvos_cli.models.soc import load_soc

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def real_float32():
    """TF32 rounds matmul and convolution inputs to 10 bits; parity needs it off."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def weights(fixtures_dir, random_weights, manifest: str, seed: int = 1234):
    return random_weights.random_state_dict(random_weights.load_manifest(fixtures_dir / manifest), seed)


def test_mttr_case_a(fixtures_dir, random_weights):
    case = torch.load(fixtures_dir / "mttr" / "case_a.pt", weights_only=True)
    model = load_mttr(weights(fixtures_dir, random_weights, "mttr/manifest.json")).to(CUDA)
    with torch.inference_mode():
        out = model(case["video"].to(CUDA), case["input_ids"].to(CUDA), case["attention_mask"].to(CUDA))
    for key in ("pred_is_referred", "pred_masks"):
        torch.testing.assert_close(out[key].cpu(), case[key], atol=1e-4, rtol=0)


def test_rdevos_case_a(fixtures_dir, random_weights):
    case = torch.load(fixtures_dir / "rdevos" / "case_a.pt", weights_only=True)
    net = load_rdevos(weights(fixtures_dir, random_weights, "rdevos/manifest.json", case["config"]["weight_seed"]))
    probs = propagate_probs(net.to(CUDA), case["frames"].to(CUDA), case["first_frame_labels"].to(CUDA), 40, 3)
    torch.testing.assert_close(probs.cpu(), case["probs"], atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "name, load, manifest, tolerance",
    [
        ("referformer", load_referformer, "referformer/manifest_video_swin_t_p4w7.json", 2e-3),
        ("soc", load_soc, "soc/manifest_video_swin_t.json", 1e-2),
    ],
)
def test_deformable_models_case_a(name, load, manifest, tolerance, fixtures_dir, random_weights):
    """The grid_sample deformable attention on the GPU matches the recorded CPU outputs."""
    case = torch.load(fixtures_dir / name / "case_a.pt", weights_only=True)
    model = load(weights(fixtures_dir, random_weights, manifest)).to(CUDA)
    with torch.inference_mode():
        out = model(case["video"].to(CUDA), case["input_ids"].to(CUDA), case["attention_mask"].to(CUDA))
    reference = case["outputs"][0]
    masks = out["pred_masks"].cpu()
    if name == "soc":  # the recorded layout is time first
        masks = masks.transpose(0, 1)
    torch.testing.assert_close(masks, reference["pred_masks"], atol=tolerance, rtol=0)


def test_preprocessing_on_the_device_matches_the_cpu():
    """Full-size frames resized (PIL-exact, integer arithmetic) and normalised on the GPU give the CPU
    path's model input bit for bit; RDE-VOS's uint8 upload and normalisation there give its floats."""
    import numpy as np

    from rvos_cli.models.common.frames import normalize_video
    from rvos_cli.models.rdevos.preprocess import to_device
    from rvos_cli.pipelines.measure import NullReferrer

    frames = [np.random.default_rng(seed).integers(0, 256, (720, 1280, 3), dtype=np.uint8) for seed in range(3)]
    model = NullReferrer()
    size = model.input_size(720, 1280)
    cpu = model.model_input(model.preprocess(frames, size), size)
    gpu = model.model_input(torch.from_numpy(np.stack(frames)).to(CUDA), size)
    assert torch.equal(gpu.cpu(), cpu)
    assert torch.equal(
        normalize_video(to_device(frames[0], CUDA)[None]).cpu(),
        normalize_video(to_device(frames[0], torch.device("cpu"))[None]),
    )
