"""`rvos.train.Trainer` against steps of the original MTTR trainer (train_a.pt, train_b.pt; see TRAINING.md there).

Each case: the case's random weights through rvos's own loader, one step with dropout off, then the
matchings, the losses, the gradient norm, per-tensor gradients and the parameters after AdamW's step.
"""

from __future__ import annotations

import math

import pytest
import torch

from rvos.train import Trainer

LOSS_RTOL = 1e-5
GRAD_RTOL = 1e-4
FLOAT32_EPS = torch.finfo(torch.float32).eps


@pytest.fixture(scope="module", params=["a", "b"])
def stepped(request, fixtures_dir, random_weights):
    case = torch.load(fixtures_dir / "mttr" / f"train_{request.param}.pt", weights_only=True)
    manifest = random_weights.load_manifest(fixtures_dir / "mttr" / "manifest.json")
    state = random_weights.random_state_dict(manifest, case["config"]["weight_seed"])
    trainer = Trainer("mttr", state, device="cpu", dropout=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two OpenMP threads on a shared 2-core machine spin against each other
    try:
        result = trainer.step(case["videos"], case["token_ids"], case["targets"], case["config"]["valid_frames"])
    finally:
        torch.set_num_threads(threads)
    return case, trainer, result


def test_matchings_are_identical(stepped):
    case, _, result = stepped
    assert len(result.matchings) == len(case["indices"]) == 3
    for ours, theirs in zip(result.matchings, case["indices"]):
        assert [(q.tolist(), k.tolist()) for q, k in ours] == [(q.tolist(), k.tolist()) for q, k in theirs]


def test_losses_match(stepped):
    case, _, result = stepped
    assert list(result.losses) == list(case["losses"])  # every term, in the original's names and order
    for name, value in case["losses"].items():
        assert result.losses[name] == pytest.approx(float(value), rel=LOSS_RTOL), name
    assert result.total_loss == pytest.approx(float(case["total_loss"]), rel=LOSS_RTOL)


def test_gradients_match(stepped):
    case, trainer, result = stepped
    total = float(case["grad_total_norm"])
    assert result.grad_norm == pytest.approx(total, rel=GRAD_RTOL)
    params = dict(trainer.network.named_parameters())
    assert sorted(n for n, p in params.items() if p.requires_grad) == sorted(case["trainable"])
    # The step clipped the gradients in place: undo the factor to compare the raw ones.
    factor = min(1.0, trainer.step_runner.optim.clip_max_norm / (result.grad_norm + 1e-6))
    # A sum that cancels (weights feeding a LayerNorm) keeps the float32 rounding of its terms: it is
    # compared on the scale of the summed magnitudes (sqrt(n) x norm). The first decoder layer's query
    # projections get an analytically zero gradient (its queries start at zero): noise on the model's scale.
    noise = 1e-7 * total
    for name, (ref_sum, ref_sumsq, ref_max) in case["grad_summary"].items():
        grad = params[name].grad.double() / factor
        ref_norm = math.sqrt(ref_sumsq)
        cancelling = 5e-5 * math.sqrt(grad.numel()) * ref_norm
        assert abs(grad.sum().item() - ref_sum) <= GRAD_RTOL * abs(ref_sum) + cancelling + noise, name
        assert abs(grad.norm().item() - ref_norm) <= GRAD_RTOL * ref_norm + noise, name
        assert abs(grad.abs().max().item() - ref_max) <= GRAD_RTOL * ref_max + noise, name
    for name, ref in case["grad_small"].items():
        torch.testing.assert_close(
            params[name].grad / factor, ref, rtol=1e-3, atol=1e-3 * ref.abs().max().item() + noise
        )


def _lr(name: str) -> float:
    return 1e-5 if "backbone" in name else 1e-4


def test_parameters_after_the_step_match(stepped):
    case, trainer, _ = stepped
    params = {n: p.detach() for n, p in trainer.network.named_parameters()}
    grads = {n: p.grad for n, p in trainer.network.named_parameters() if p.grad is not None}
    clip = min(1.0, 0.1 / (float(case["grad_total_norm"]) + 1e-6))

    def adam_direction(g: torch.Tensor) -> torch.Tensor:  # AdamW's first step moves by lr x this
        return g / (g.abs() + 1e-8)

    for name, ref in case["param_small_after"].items():
        grad = case["grad_small"][name]
        moved = grad.abs() > 1e-3 * grad.abs().max()
        # TRAINING.md's 1e-3 x lr; plus one float32 ulp where that is finer than the value's precision; plus
        # what the float32 noise of a clipped gradient near AdamW's eps (1e-8) moves: the gradients themselves
        # are compared above.
        noise = (adam_direction(grads[name]) - adam_direction(grad * clip)).abs()
        tolerance = 1e-3 * _lr(name) + FLOAT32_EPS * ref.abs() + 2 * _lr(name) * noise
        assert ((params[name] - ref).abs() <= tolerance)[moved].all(), name
    for name, (ref_sum, _, ref_max) in case["param_summary_after"].items():
        value = params[name].double()
        # Elements with a vanishing gradient may move by up to lr either way; the others move alike.
        vanishing = (grads[name].abs() <= 1e-3 * grads[name].abs().max()).sum().item()
        slack = 2 * _lr(name) * vanishing + 1e-3 * _lr(name) * value.numel() + 1e-6 * abs(ref_sum)
        assert abs(value.sum().item() - ref_sum) <= slack, name
        assert abs(value.abs().max().item() - ref_max) <= 2 * _lr(name) + FLOAT32_EPS * ref_max, name
    official = trainer.official_state_dict()
    assert list(official)[:2] == ["backbone.patch_embed.proj.weight", "backbone.patch_embed.proj.bias"]
    assert "transformer.text_encoder.embeddings.position_ids" in official


def test_the_a2d_path_outputs_only_the_valid_frames(stepped):
    """valid_frames (A2D-Sentences: the annotated frame of a window): the backbone sees every frame, the
    model outputs and the losses cover only the valid ones."""
    case, trainer, _ = stepped
    from rvos_cli.train.recipe import pad_token_ids

    ids, mask = pad_token_ids(case["token_ids"])
    network = trainer.network.eval()
    with torch.inference_mode():
        every = network(case["videos"], ids, mask)
        middle = network(case["videos"], ids, mask, valid_indices=torch.tensor([1]))
    assert middle["pred_masks"].shape[0] == 1
    torch.testing.assert_close(middle["pred_masks"][0], every["pred_masks"][1], atol=1e-4, rtol=0)
    torch.testing.assert_close(middle["pred_is_referred"][0], every["pred_is_referred"][1], atol=1e-4, rtol=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = trainer.step(case["videos"], case["token_ids"], case["targets"][1:2], valid_frames=[1])
    finally:
        torch.set_num_threads(threads)
    assert all(math.isfinite(v) for v in result.losses.values()) and len(result.losses) == 9
    counts = [len(t["masks"]) for t in case["targets"][1]]
    assert [len(q) for q, _ in result.matchings[0]] == counts
