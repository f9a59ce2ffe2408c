"""rvos's streamed SAM 2.1 and SAM 3 tracker against transformers' offline video API run as SAM 2's VOS evaluation.

Tiny random models of both (no download), a clip longer than their 4-frame memory window: two objects
given by masks on frame 0, a third joining by mask on frame 4 (where frame 4's label map also repeats an
object already tracked, which the evaluation ignores), boxes and points; the streamed label maps equal
the reference's except where two logits tie within 1e-4 (tests/sam2_reference.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import sam2_reference as reference

from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.sam2 import Sam2Propagator

pytestmark = pytest.mark.usefixtures("one_thread")

HEIGHT, WIDTH = 40, 72


@pytest.fixture(scope="module", params=["sam2", "sam3-tracker"])
def model(request):
    return reference.lively_model(request.param)


@pytest.fixture(scope="module")
def sam2_model():
    return reference.lively_model("sam2")


def clip(num_frames: int, seed: int = 0) -> list[np.ndarray]:
    """A textured square drifting over noise: frames that change, as a video's do."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    texture = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    frames = []
    for t in range(num_frames):
        frame = np.roll(background, t, axis=1).copy()
        y, x = 8 + t % 5, 10 + 3 * t
        frame[y : y + 16, x : x + 16] = texture
        frames.append(frame)
    return frames


def boxes_to_labels(*objects: tuple[int, int, int, int, int]) -> np.ndarray:
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    for object_id, y0, y1, x0, x1 in objects:
        labels[y0:y1, x0:x1] = object_id
    return labels


def stream(model, frames, masks=None, prompts=None, num_frames=None) -> tuple[np.ndarray, np.ndarray]:
    """(labels [T, H, W], logits [T, N, H, W] with objects not yet tracked at the reference's -1024)."""
    masks, prompts = masks or {}, prompts or {}
    propagator = Sam2Propagator(model)
    labels = [propagator.start(frames[0], masks.get(0), prompts.get(0, ()), num_frames=num_frames)]
    logits = [dict(zip(propagator.object_ids, propagator.logits.numpy()))]
    for index in range(1, len(frames)):
        labels.append(propagator.step(frames[index], masks.get(index), prompts.get(index, ())))
        logits.append(dict(zip(propagator.object_ids, propagator.logits.numpy())))
    ids = propagator.object_ids
    scores = np.full((len(frames), len(ids), HEIGHT, WIDTH), reference.ABSENT, np.float32)
    for index, frame_logits in enumerate(logits):
        for n, object_id in enumerate(ids):
            if object_id in frame_logits:
                scores[index, n] = frame_logits[object_id]
    return np.stack(labels), scores


def assert_streams_like(model, frames, masks=None, prompts=None, num_frames=None) -> np.ndarray:
    """The streamed label maps equal the evaluation's but for ties, and the logits agree to 1e-4."""
    expected, scores = reference.evaluate(model, frames, masks, prompts)
    labels, logits = stream(model, frames, masks, prompts, num_frames)
    reference.assert_same_labels(labels, expected, scores)
    np.testing.assert_allclose(logits, scores, atol=1e-4, rtol=0)
    return expected


def test_masks_stream_like_the_offline_evaluation(model):
    frames = clip(10)
    masks = {
        0: boxes_to_labels((1, 5, 25, 5, 30), (2, 20, 38, 40, 70)),
        4: boxes_to_labels((1, 5, 25, 5, 30), (3, 10, 30, 30, 60)),
    }
    expected = assert_streams_like(model, frames, masks)
    # not a vacuous comparison: every object is segmented after it joins, object 3 only from frame 4
    for object_id, first in ((1, 0), (2, 0), (3, 4)):
        assert (expected[first:] == object_id).sum(axis=(1, 2)).min() > 0
        assert not (expected[:first] == object_id).any()


def test_boxes_and_points_stream_like_the_offline_evaluation(model):
    frames = clip(7, seed=1)
    masks = {0: boxes_to_labels((1, 5, 25, 5, 30))}
    prompts = {
        0: [ObjectPrompt(2, box=(40, 18, 70, 38))],
        2: [ObjectPrompt(3, points=((20, 12, 1), (60, 30, 0)))],
        3: [ObjectPrompt(4, box=(30, 5, 60, 30), points=((45, 15, 1),))],
    }
    expected = assert_streams_like(model, frames, masks, prompts)
    for object_id in (1, 2, 3, 4):
        assert (expected == object_id).any()


def test_a_clip_shorter_than_the_pointer_window_matches_when_its_length_is_known(sam2_model):
    # 3 frames < max_object_pointers_in_encoder (4): the offline evaluation scales the pointers' temporal
    # positions by min(3, 4) - 1, which a stream only knows from `num_frames`.
    frames = clip(3, seed=2)
    masks = {0: boxes_to_labels((1, 5, 25, 5, 30), (2, 20, 38, 40, 70))}
    assert_streams_like(sam2_model, frames, masks, num_frames=3)


def test_the_streamed_state_stays_within_the_memory_window(sam2_model):
    config = sam2_model.config
    window = max(config.num_maskmem, config.max_object_pointers_in_encoder)
    frames = clip(3 * window + 2, seed=3)
    propagator = Sam2Propagator(sam2_model)
    propagator.start(frames[0], boxes_to_labels((1, 5, 25, 5, 30), (2, 20, 38, 40, 70)))
    joins = 5
    for t in range(1, len(frames)):
        propagator.step(frames[t], boxes_to_labels((3, 10, 30, 30, 60)) if t == joins else None)
        recent = set(range(max(0, t + 2 - window), t + 1))
        first_frames = {0} | ({joins} if t >= joins else set())
        assert propagator.held_frames() == recent | first_frames
        for session in propagator.sessions.values():
            assert session.processed_frames is None  # frames never enter a session, only their features
            tracked = session.output_dict_per_obj[0]["non_cond_frame_outputs"]
            with_memory = {i for i, out in tracked.items() if "maskmem_features" in out}
            assert with_memory == {i for i in tracked if i >= t + 2 - config.num_maskmem}
            assert all("high_res_masks" not in out for out in tracked.values())
