"""The weight-free optical-flow propagator against the synthetic clip's ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rvos_cli.errors import InputError
from rvos_cli.models.flow import FlowPropagator
from rvos_cli.models.flow.cleanup import clean_labels
from rvos_cli.models.flow.warp import warp_labels
from rvos_cli.video.synthetic import synthetic_clip


def iou(a, b):
    union = (a | b).sum()
    return (a & b).sum() / union if union else 1.0


def _textured(height, width, cell, rng, colour, contrast):
    """[H, W, 3] float32: `colour` plus fine random texture of feature size `cell` px."""
    noise = rng.normal(0, 1, (max(2, int(height / cell)), max(2, int(width / cell)), 3)).astype(np.float32)
    return np.float32(colour) + contrast * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def _ellipse_clip(frames, centre, velocity, colour, background, pillar=None, size=(240, 180), seed=0):
    """Frames [H, W, 3] uint8 and labels [H, W] uint8 (id 1) of a finely textured ellipse of half-size
    28x20 px moving at `velocity` px/frame over a textured background of colour `background`, optionally
    passing behind an unlabelled grey pillar spanning the columns `pillar` (x0, x1)."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = _textured(height, width, 3, rng, background, 30)
    skin = _textured(80, 80, 2.5, rng, colour, 50)
    for t in range(frames):
        cx, cy = centre[0] + velocity[0] * t, centre[1] + velocity[1] * t
        u, v = xs - cx, ys - cy
        inside = (u / 28) ** 2 + (v / 20) ** 2 <= 1
        frame = scene.copy()
        frame[inside] = cv2.remap(skin, u + 40, v + 40, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)[inside]
        labels = inside.astype(np.uint8)
        if pillar is not None:
            frame[:, pillar[0] : pillar[1]] = 90
            labels[:, pillar[0] : pillar[1]] = 0
        frame = cv2.GaussianBlur(frame, (0, 0), 0.6) + rng.normal(0, 2, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8), labels


def _track(clip):
    """Run the propagator from the first frame's labels -> list of (predicted, true) object-1 masks."""
    propagator = FlowPropagator()
    out = []
    for index, (frame, truth) in enumerate(clip):
        if index == 0:
            propagator.start(frame, truth)
            continue
        out.append((propagator.step(frame) == 1, truth == 1))
    return out


def test_fast_finely_textured_object_is_followed():
    """At 8 px/frame on fine texture dense flow alone loses the object; its own motion must not."""
    masks = _track(_ellipse_clip(24, (40, 90), (8, 0.5), (200, 80, 70), (110, 120, 100), size=(320, 180)))
    scores = [iou(predicted, truth) for predicted, truth in masks]
    assert min(scores) > 0.75 and np.mean(scores) > 0.85


def test_mask_does_not_spread_onto_a_background_of_similar_colour():
    """The object's mean colour differs from the background's by ~10; its mask must keep its size."""
    masks = _track(_ellipse_clip(30, (60, 90), (3, 0.5), (122, 126, 104), (110, 120, 100)))
    predicted, truth = masks[-1]
    assert abs(int(predicted.sum()) - int(truth.sum())) < 0.15 * truth.sum()
    assert np.mean([iou(p, t) for p, t in masks]) > 0.75


def test_object_hidden_behind_an_unlabelled_pillar_is_followed_through():
    """Hidden for a few frames, the object coasts on its own velocity and is whole again as it comes out."""
    clip = _ellipse_clip(44, (30, 90), (5, 0), (200, 90, 160), (110, 120, 100), pillar=(100, 180), size=(320, 180))
    masks = _track(clip)
    seen = [iou(predicted, truth) for predicted, truth in masks if truth.any()]
    assert np.mean(seen) > 0.75
    predicted, truth = masks[-1]
    assert iou(predicted, truth) > 0.8 and abs(int(predicted.sum()) - int(truth.sum())) < 0.2 * truth.sum()


def test_warp_moves_labels_along_flow():
    labels = np.zeros((10, 12), np.uint8)
    labels[2:5, 2:5] = 1
    backward = np.zeros((10, 12, 2), np.float32)
    backward[..., 0] = -3  # every pixel came from 3 pixels to its left
    warped = warp_labels(labels, backward)
    assert (warped[2:5, 5:8] == 1).all() and warped.sum() == 9


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


def test_object_cut_by_the_frame_edge_stays_whole_as_more_of_it_comes_in():
    """A long pale roof seen from above slides down through the frame, cut by its top and bottom edges;
    what enters across the top edge is more roof, so its mask must neither slide out nor empty."""
    width, height, speed = 240, 180, 8
    rng = np.random.default_rng(3)
    ground = _textured(height, width, 3, rng, (110, 112, 108), 30)
    roof = _textured(height + 40 * speed, 100, 4, rng, (215, 215, 220), 15)
    for y in range(20, roof.shape[0], 90):  # hatches
        roof[y : y + 30, 30:70] = (120, 100, 100)
    masks = []
    propagator = FlowPropagator()
    for t in range(40):
        frame = ground.copy()
        offset = roof.shape[0] - height - speed * t  # the roof moves down: its crop moves up
        frame[:, 70:170] = roof[offset : offset + height]
        frame = np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)
        truth = np.zeros((height, width), np.uint8)
        truth[:, 70:170] = 1
        if t == 0:
            propagator.start(frame, truth)
            continue
        masks.append((propagator.step(frame) == 1, truth == 1))
    scores = [iou(predicted, truth) for predicted, truth in masks]
    assert min(scores) > 0.8, scores
