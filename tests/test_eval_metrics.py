"""J, F and the sequence statistics against values computed by hand from the DAVIS 2017 definitions."""

from __future__ import annotations

import numpy as np
import pytest

from rvos_cli.eval.davis import frame_scores
from rvos_cli.eval.metrics import boundary_map, boundary_radius, decay_bins, disk, f_measure, jaccard, statistics


def square(top: int, left: int, size: int = 4, shape=(10, 10)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_square_shifted_by_one_pixel():
    gt, pred = square(2, 2), square(2, 3)
    assert jaccard(gt, pred) == pytest.approx(12 / 20)
    # radius ceil(0.008 * sqrt(200)) = 1: every boundary pixel has its match one pixel away
    assert boundary_radius(10, 10) == 1
    assert f_measure(gt, pred, 1) == 1.0


def test_boundary_is_right_and_lower_edge_and_never_the_image_edge():
    gt = square(2, 2)
    expected = np.zeros((10, 10), bool)
    expected[1:6, 5] = expected[5, 1:6] = True  # the square's right and bottom rows
    expected[1, 1:6] = expected[1:6, 1] = True  # the background row above and column left
    assert np.array_equal(boundary_map(gt), expected)
    assert not boundary_map(np.ones((6, 6), bool)).any()


def test_partial_boundary_match():
    gt = np.zeros((6, 6), bool)
    gt[:, :3] = True  # boundary: column 2, 6 pixels
    pred = np.zeros((6, 6), bool)
    pred[:3, :3] = pred[3:, :5] = True  # boundary: (0..2, 2), (2, 3), (2, 4), (3..5, 4): 8 pixels
    # precision 4/8 (rows 0-2 of column 2 and (2, 3) lie within radius 1), recall 4/6 (rows 0-3)
    assert f_measure(gt, pred, 1) == pytest.approx(4 / 7)
    assert f_measure(gt, pred, 2) == 1.0


def test_empty_and_full_masks():
    empty, full = np.zeros((8, 8), bool), np.ones((8, 8), bool)
    assert jaccard(empty, empty) == 1.0 and f_measure(empty, empty, 1) == 1.0
    assert jaccard(empty, full) == 0.0
    # a full mask has no boundary (the image edge is not one), so DAVIS gives F = 1 against empty
    assert f_measure(empty, full, 1) == 1.0
    assert f_measure(empty, square(2, 2, shape=(8, 8)), 1) == 0.0


def test_disk_is_skimage_disk_not_opencv_ellipse():
    assert disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert disk(2).tolist() == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    assert boundary_radius(480, 854) == 8  # ceil(0.008 * 979.6)


def test_void_pixels_in_gt_are_background():
    gt = np.zeros((10, 10), np.int32)
    gt[2:6, 2:6] = 1
    gt[7:9, 0:8] = 255
    pred = np.where(gt > 0, 1, 0)  # also covers the void band: 16 object + 16 void pixels
    gt = np.where(gt == 255, 0, gt)
    j, f = frame_scores(gt, pred, 1)
    assert j[0] == pytest.approx(16 / 32)
    assert f[0] < 1.0


def test_frame_scores_missing_and_extra_objects():
    gt = np.zeros((10, 10), np.int32)
    gt[2:6, 2:6] = 1
    gt[6:9, 6:9] = 2
    pred = np.where(gt == 1, 1, 0)
    pred[0, 0] = 7  # an id above the object count is background for every object
    j, f = frame_scores(gt, pred, 2)
    assert j.tolist() == [1.0, 0.0] and f.tolist() == [1.0, 0.0]


def test_statistics_recall_strictly_above_half_and_decay():
    values = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    mean, recall, decay = statistics(values)
    assert mean == pytest.approx(0.55)
    assert recall == 0.5  # 0.5 itself does not count
    # bins for 8 frames: [0:3], [2:5], [4:6], [5:8] (4.5 rounds up thanks to the +1e-10)
    assert decay_bins(8) == [slice(0, 3), slice(2, 5), slice(4, 6), slice(5, 8)]
    assert decay == pytest.approx(0.8 - 0.3)


def test_statistics_short_and_improving_sequences():
    assert statistics(np.array([0.4])) == (0.4, 0.0, 0.0)
    mean, recall, decay = statistics(np.array([0.2, 0.6]))
    assert (mean, recall, decay) == (pytest.approx(0.4), 0.5, pytest.approx(-0.4))  # improving: negative decay
