"""RDE-VOS model behaviour that the parity fixtures do not cover: loading, padding, streaming, late objects."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from rvos_cli.errors import CheckpointError
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.rdevos import RDETracker, load_rdevos, propagate_probs
from rvos_cli.models.rdevos.aggregate import aggregate
from rvos_cli.models.rdevos.layout import layout


@pytest.fixture(scope="module")
def state():
    return random_state_dict(layout(), seed=0)


@pytest.fixture(scope="module")
def net(state):
    return load_rdevos(state)


def frames(t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_loads_safetensors_with_prefix_and_half_precision(tmp_path, state, net):
    path = tmp_path / "model.safetensors"
    save_file({f"module.{k}": v.half() for k, v in state.items()}, str(path))
    loaded = load_rdevos(path)
    assert not loaded.training
    weight = loaded.state_dict()["decoder.pred.weight"]
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, state["decoder.pred.weight"].half().float())


def test_rejects_a_checkpoint_of_another_model(tmp_path, state):
    path = tmp_path / "other.pth"
    torch.save({"backbone.weight": torch.zeros(3), "decoder.pred.weight": torch.zeros(1, 256, 1, 1)}, path)
    with pytest.raises(
        CheckpointError, match=r"not a RDE-VOS \(resnet50\) checkpoint.*missing.*unexpected.*wrong shape"
    ):
        load_rdevos(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_rdevos(tmp_path / "absent.pth")


def test_pads_inside_and_returns_a_distribution(net):
    labels = torch.zeros(40, 70, dtype=torch.long)
    labels[5:20, 10:30] = 3
    labels[25:38, 40:65] = 7
    probs = propagate_probs(net, frames(3, 40, 70), labels, top_k=20, mem_every=1)
    assert probs.shape == (3, 3, 40, 70)
    assert torch.isfinite(probs).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(3, 40, 70))
    assert torch.equal(probs[0].argmax(0), torch.bucketize(labels, torch.tensor([0, 3, 7]), right=False))


def test_memory_does_not_grow_with_video_length(net):
    def kept_after(num_frames: int) -> list[tuple[int, ...]]:
        tracker = RDETracker(net, top_k=20, mem_every=2)
        video = frames(num_frames, 32, 48)
        masks = torch.zeros(2, 1, 32, 48)
        masks[0, 0, :16] = 1
        masks[1, 0, 16:, :24] = 1
        with torch.inference_mode():
            tracker.step(video[:1], masks)
            for t in range(1, num_frames):
                tracker.step(video[t : t + 1])
        return sorted(tuple(t.shape) for t in tracker.memory_tensors())

    short = kept_after(4)
    assert short == kept_after(12)
    assert len(short) == 6  # gt, last and rde keys and values of the single group


def test_object_joining_later_appears_from_its_frame(net):
    video = frames(6, 48, 64, seed=1)
    first = torch.zeros(1, 1, 48, 64)
    first[0, 0, 4:20, 4:30] = 1
    late = torch.zeros(1, 1, 48, 64)
    late[0, 0, 28:44, 36:60] = 1
    tracker = RDETracker(net, top_k=20, mem_every=4)
    with torch.inference_mode():
        probs = [tracker.step(video[:1], first)]
        probs += [tracker.step(video[t : t + 1]) for t in (1, 2)]
        probs.append(tracker.step(video[3:4], late))
        probs += [tracker.step(video[t : t + 1]) for t in (4, 5)]
    assert [p.shape[0] for p in probs] == [2, 2, 2, 3, 3, 3]
    labels = probs[3].argmax(0)
    assert (labels[late[0, 0] > 0] == 2).all()
    assert not (labels[late[0, 0] == 0] == 2).any()
    assert len(tracker.groups) == 2 and tracker.groups[1].objects == slice(1, 2)
    # Frame 3 was stored by the first group (an RDE update) and is the second group's annotation.
    assert tracker.groups[0].memory.last is not None and tracker.groups[1].memory.last is None


def test_aggregate_is_a_soft_one_hot():
    masks = torch.zeros(2, 1, 2, 2)
    masks[0, 0, 0, 0] = 1
    masks[1, 0, 1, 1] = 1
    probs = aggregate(masks)
    assert torch.equal(probs.argmax(0)[0], torch.tensor([[1, 0], [0, 2]]))
    torch.testing.assert_close(probs.sum(0), torch.ones(1, 2, 2))
