"""RDE-VOS against the official implementation (case A of ../shared/fixtures/rdevos)."""

from __future__ import annotations

import pytest
import torch

from rvos_cli.models.rdevos import load_rdevos, propagate_probs


@pytest.fixture(scope="module")
def case_a(fixtures_dir):
    return torch.load(fixtures_dir / "rdevos" / "case_a.pt", weights_only=True)


@pytest.fixture(scope="module")
def net(fixtures_dir, random_weights, case_a):
    manifest = random_weights.load_manifest(fixtures_dir / "rdevos" / "manifest.json")
    return load_rdevos(random_weights.random_state_dict(manifest, case_a["config"]["weight_seed"]))


def test_frame0_encoders_match(net, case_a):
    debug = case_a["debug"]
    with torch.inference_mode():
        key, f16_thin, f16, f8, f4 = net.encode_key(case_a["frames"][:1])
        value = net.encode_value(case_a["frames"][:1], f16, debug["frame0_value_input_masks"])
    for ours, name in [
        (key, "key_k16"),
        (f16_thin, "f16_thin"),
        (f16, "f16"),
        (f8, "f8"),
        (f4, "f4"),
        (value, "value"),
    ]:
        torch.testing.assert_close(ours, debug[f"frame0_{name}"], rtol=0, atol=1e-5)


def test_probs_and_labels_match(net, case_a):
    probs = propagate_probs(net, case_a["frames"], case_a["first_frame_labels"], top_k=40, mem_every=3)
    reference = case_a["probs"]
    assert probs.shape == reference.shape
    for t in range(reference.shape[0]):
        assert (probs[t] - reference[t]).abs().max() <= 1e-5, f"frame {t}"
    top2 = reference.topk(2, dim=1).values
    ambiguous = top2[:, 0] - top2[:, 1] < 1e-4
    flips = probs.argmax(1) != case_a["labels"]
    assert not (flips & ~ambiguous).any()


def test_compress_memory_matches(net, case_a):
    debug = case_a["debug"]
    for i, update in enumerate(debug["memory_update_inputs"]):
        before, after = debug["mem_after_add"][i], debug["mem_after_add"][i + 1]
        prev_value = before["mem_v"].reshape(update["value"].shape)
        with torch.inference_mode():
            key, value = net.compress_memory(before["mem_k"], prev_value, update["key"], update["value"])
        for ours, reference in [(key, after["mem_k"]), (value, after["mem_v"].reshape(value.shape))]:
            assert ours.shape == update["key" if ours is key else "value"].shape
            assert (ours - reference).abs().max() <= 1e-5 * reference.abs().max()
