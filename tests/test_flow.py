"""The weight-free optical-flow propagator against the synthetic clip's ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rvos_cli.errors import InputError
from rvos_cli.models.flow import FlowPropagator
from rvos_cli.models.flow.cleanup import clean_labels
from rvos_cli.models.flow.cuts import CutDetector
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


def _track_all(clip):
    """Run the propagator from the first frame's labels -> list of (predicted, true) label maps."""
    propagator = FlowPropagator()
    out = []
    for index, (frame, truth) in enumerate(clip):
        if index == 0:
            propagator.start(frame, truth)
            continue
        out.append((propagator.step(frame), truth))
    return out


def _track(clip):
    """Run the propagator from the first frame's labels -> list of (predicted, true) object-1 masks."""
    return [(predicted == 1, truth == 1) for predicted, truth in _track_all(clip)]


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


# -- objects with little texture of their own, scene cuts, lost and found (issue 23) ------------------------


def _busy(height, width, rng):
    """[H, W, 3] float32: smooth patches of greens and browns under fine, strong texture."""
    coarse = rng.uniform(0, 1, (height // 24 + 2, width // 24 + 2, 3)).astype(np.float32)
    base = 60 + 110 * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * np.float32([0.8, 1.0, 0.6])
    fine = rng.normal(0, 1, (height // 3, width // 3, 3)).astype(np.float32)
    return base + 30 * cv2.resize(fine, (width, height), interpolation=cv2.INTER_CUBIC)


def _camera(frame, rng):
    """float32 frame -> uint8 with a little optical blur and sensor noise."""
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6) + rng.normal(0, 2, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _disc(height, width, cx, cy, rx, ry):
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1


def _skin(frame, inside, skin, cx, cy):
    """Paint the textured `skin` [80, 80, 3] centred at (cx, cy) into `frame` where `inside` (in place)."""
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]].astype(np.float32)
    moved = cv2.remap(skin, xs - cx + 40, ys - cy + 40, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    frame[inside] = moved[inside]


def test_flat_coloured_object_crossing_a_busy_background_is_followed():
    """A red disc of one colour at 8 px/frame: its inside has no corners of its own and sensor noise gives
    false ones that do not move; it is followed by its outline and colour, not left behind on the background."""
    rng = np.random.default_rng(0)
    scene = _busy(240, 320, rng)

    def clip():
        for t in range(20):
            inside = _disc(240, 320, 60 + 8 * t, 110 + 0.5 * t, 30, 22)
            frame = scene.copy()
            frame[inside] = (205, 45, 50)
            yield _camera(frame, rng), inside.astype(np.uint8)

    scores = [iou(predicted == 1, truth == 1) for predicted, truth in _track_all(clip())]
    assert min(scores) > 0.85 and np.mean(scores) > 0.9, scores


def test_scene_cut_drops_an_object_not_in_the_new_shot_and_finds_one_that_is():
    """At a cut the flat blue box is gone: none of its pixels may remain on the new shot. The textured ellipse
    is in the new shot elsewhere: it is found again by its appearance."""
    rng = np.random.default_rng(1)
    shots = [_busy(240, 320, rng), 40 + 0.6 * _busy(240, 320, rng)[..., ::-1]]
    noise = rng.normal(0, 1, (32, 32, 3)).astype(np.float32)
    skin = np.float32((200, 80, 70)) + 50 * cv2.resize(noise, (80, 80), interpolation=cv2.INTER_CUBIC)

    def clip():
        for t in range(14):
            frame, labels = shots[t >= 7].copy(), np.zeros((240, 320), np.uint8)
            cx, cy = (70 + 3 * t, 90) if t < 7 else (220 - 2 * t, 170)
            inside = _disc(240, 320, cx, cy, 30, 22)
            _skin(frame, inside, skin, cx, cy)
            labels[inside] = 1
            if t < 7:
                frame[60:120, 200 - 2 * t : 240 - 2 * t] = (40, 90, 215)
                labels[60:120, 200 - 2 * t : 240 - 2 * t] = 2
            yield _camera(frame, rng), labels

    after = _track_all(clip())[6:]
    assert all(not (predicted == 2).any() for predicted, _ in after)
    assert min(iou(predicted == 1, truth == 1) for predicted, truth in after) > 0.8


def test_flash_and_fade_are_not_cuts_but_a_new_shot_is():
    rng = np.random.default_rng(2)
    frame = _camera(_busy(120, 160, rng), rng)
    detect = CutDetector()
    assert not detect(frame)
    assert not detect(np.clip(frame.astype(np.int32) + 80, 0, 255).astype(np.uint8))  # a flash
    assert not detect((frame * 0.5).astype(np.uint8))  # a fade
    assert detect(_camera(_busy(120, 160, rng)[..., ::-1], rng))


def test_object_is_held_through_a_one_frame_occlusion():
    """A grey panel passes in front of a textured object for one frame: nothing of it can be measured there,
    so it goes on as it was going and is followed again from the next frame, not lost or left behind."""
    rng = np.random.default_rng(3)
    scene = _busy(240, 320, rng)
    noise = rng.normal(0, 1, (32, 32, 3)).astype(np.float32)
    skin = np.float32((60, 110, 220)) + 50 * cv2.resize(noise, (80, 80), interpolation=cv2.INTER_CUBIC)

    def clip():
        for t in range(16):
            cx = 60 + 8 * t
            inside = _disc(240, 320, cx, 120, 28, 20)
            frame = scene.copy()
            _skin(frame, inside, skin, cx, 120)
            labels = inside.astype(np.uint8)
            if t == 8:
                frame[60:180, cx - 50 : cx + 50], labels[60:180, cx - 50 : cx + 50] = 128, 0
            yield _camera(frame, rng), labels

    masks = _track_all(clip())
    held, _ = masks[7]
    around = cv2.dilate(_disc(240, 320, 124, 120, 28, 20).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert not ((held == 1) & ~around).any()  # whatever is shown on the hidden frame is where it is
    assert min(iou(predicted == 1, truth == 1) for predicted, truth in masks[8:]) > 0.9


def test_object_that_stands_up_to_three_times_its_area_is_followed():
    """A grey shaded object whose height triples in 24 frames (not a similarity: its width stays): its
    outline and colour lead its mask, which is not held to its first size."""
    rng = np.random.default_rng(4)
    scene = _busy(240, 320, rng)
    ys, xs = np.mgrid[0:240, 0:320].astype(np.float32)

    def clip():
        for t in range(24):
            ry = 18 * (1 + 2 * t / 23)
            cx, cy = 150 + 0.5 * t, 200 - ry
            inside = ((xs - cx) / 26) ** 2 + ((ys - cy) / ry) ** 2 <= 1
            shade = np.clip(-((xs - cx) / 26 + (ys - cy) / ry) / 2, -1, 1)[..., None]
            frame = scene.copy()
            frame[inside] = (np.float32((150, 150, 165)) + 25 * shade)[inside]
            yield _camera(frame, rng), inside.astype(np.uint8)

    masks = _track_all(clip())
    predicted, truth = masks[-1]
    assert iou(predicted == 1, truth == 1) > 0.8
    assert abs(int((predicted == 1).sum()) - int((truth == 1).sum())) < 0.2 * (truth == 1).sum()


def test_object_gone_out_of_the_frame_is_not_taken_back_from_the_next_one_like_it():
    """Hatches on a roof passing under the camera: the labelled one leaves through the bottom edge and the
    next, identical, comes in at the top and reaches the same place. It is another hatch (it moves on the
    way the first left): the first one's label must not come back on it."""
    rng = np.random.default_rng(5)
    roof = np.float32((215, 215, 220)) + rng.normal(0, 3, (240 + 15 * 40, 160, 3)).astype(np.float32)
    for y in range(0, roof.shape[0], 150):
        roof[y : y + 60, 50:110] = (120, 100, 100)
    ground = _busy(240, 320, rng)

    def clip():
        for t in range(30):
            frame = ground.copy()
            top = roof.shape[0] - 240 - 15 * t  # the roof slides down through the frame
            frame[:, 80:240] = roof[top : top + 240]
            labels = np.zeros((240, 320), np.uint8)
            hatch = 150 * ((top + 239) // 150)  # the lowest hatch row in view when the clip starts
            if t == 0:
                first = hatch
            y0 = first - top
            labels[max(0, y0) : max(0, min(240, y0 + 60)), 130:190] = 1
            yield _camera(frame, rng), labels

    masks = _track_all(clip())
    for predicted, truth in masks:
        if not truth.any():
            assert not (predicted == 1).any()
