"""The weight-free optical-flow propagator against the synthetic clip's ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from rvos_cli.errors import InputError
from rvos_cli.models.flow import FlowPropagator
from rvos_cli.models.flow.cleanup import clean_labels
from rvos_cli.models.flow.warp import consistent, warp_labels
from rvos_cli.video.synthetic import synthetic_clip


def iou(a, b):
    union = (a | b).sum()
    return (a & b).sum() / union if union else 1.0


def test_warp_moves_labels_along_flow_and_flags_inconsistency():
    labels = np.zeros((10, 12), np.uint8)
    labels[2:5, 2:5] = 1
    backward = np.zeros((10, 12, 2), np.float32)
    backward[..., 0] = -3  # every pixel came from 3 pixels to its left
    warped = warp_labels(labels, backward)
    assert (warped[2:5, 5:8] == 1).all() and warped.sum() == 9
    trusted = consistent(backward, -backward)
    assert trusted[:, 3:].all() and not trusted[:, :3].any()  # the first columns come from outside the frame
    assert not consistent(backward, np.zeros_like(backward)).any()


def test_clean_labels_removes_specks_and_keeps_objects_apart():
    labels = np.zeros((20, 20), np.uint8)
    labels[2:10, 2:10], labels[2:10, 10:18] = 1, 2
    labels[15, 15] = 1  # a one-pixel speck
    cleaned = clean_labels(labels)
    assert cleaned[15, 15] == 0
    assert (cleaned[3:9, 3:9] == 1).all() and (cleaned[3:9, 11:17] == 2).all()


def test_two_moving_objects_keep_mean_iou_over_30_frames():
    propagator = FlowPropagator()
    scores = []
    for index, (frame, truth) in enumerate(synthetic_clip(30)):
        if index == 0:
            propagator.start(frame, truth)
            continue
        labels = propagator.step(frame)
        assert labels.dtype == np.uint8 and labels.shape == truth.shape
        scores += [iou(labels == k, truth == k) for k in (1, 2)]
    assert np.mean(scores) >= 0.85


def test_vanishing_object_is_dropped_then_found_again():
    propagator = FlowPropagator()
    present = []
    for index, (frame, truth) in enumerate(synthetic_clip(72, 160, 120, vanishing=True)):
        if index == 0:
            propagator.start(frame, truth)
            continue
        labels = propagator.step(frame)
        present.append((labels == 2).any())
        if index == 36:  # the box is entirely outside the frame
            assert not (truth == 2).any() and not (labels == 2).any()
    assert iou(labels == 2, truth == 2) > 0.6
    assert iou(labels == 1, truth == 1) > 0.85


def test_objects_join_on_their_first_annotated_frame():
    propagator = FlowPropagator()
    for index, (frame, truth) in enumerate(synthetic_clip(20)):
        if index == 0:
            propagator.start(frame, np.where(truth == 1, 1, 0).astype(np.uint8))
            continue
        labels = propagator.step(frame, np.where(truth == 2, 2, 0).astype(np.uint8) if index == 8 else None)
        if index < 8:
            assert not (labels == 2).any()
    assert iou(labels == 2, truth == 2) > 0.85


def test_frames_smaller_than_dis_allows_are_tracked():
    """OpenCV's DIS raises under 12 pixels and segfaults on e.g. 12x40; tiny frames and --size must still work."""
    for height, width in [(2, 2), (12, 40), (40, 12), (3, 50)]:
        frames = [np.zeros((height, width, 3), np.uint8) for _ in range(3)]
        for t, frame in enumerate(frames):
            frame[:, t : t + 2] = 255
        labels = np.zeros((height, width), np.uint8)
        labels[:, :2] = 1
        propagator = FlowPropagator()
        propagator.start(frames[0], labels)
        for frame in frames[1:]:
            out = propagator.step(frame)
            assert out.shape == (height, width) and out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    clip = list(synthetic_clip(3, 160, 48))
    small = FlowPropagator(size=12)  # flow at 40x12 for 160x48 frames
    small.start(*clip[0])
    assert small.step(clip[1][0]).shape == (48, 160)


def test_negative_size_is_an_input_error():
    with pytest.raises(InputError, match="--size"):
        FlowPropagator(size=-1)
