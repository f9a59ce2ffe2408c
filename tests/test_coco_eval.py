"""rvos_cli.eval.coco (A2D-Sentences mask mAP, precision@K, IoU) against pycocotools and MTTR's metrics.py.

pycocotools is in the `test` extra: the comparison skips without it, and fails under CI=1.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rvos_cli.eval.coco import (
    AP_LABELS,
    evaluate_coco_files,
    rle_decode,
    rle_encode,
)


def _pycocotools():
    try:
        from pycocotools import mask
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pycocotools is in the test extra and CI must have it")
        pytest.skip("pycocotools is not installed")
    return mask, COCO, COCOeval


def _blob(rng, h, w):
    mask = np.zeros((h, w), dtype=np.uint8)
    y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
    mask[y : y + rng.integers(2, h - y), x : x + rng.integers(2, w - x)] = 1
    return mask


def _case(rng, images: int, size=(40, 56), small_objects=False):
    """A ground truth of one referred mask per image and 0..6 scored predictions (some exact, some shifted)."""
    h, w = size
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "dummy_class"}]}
    predictions = []
    for i in range(images):
        image_id = f"v_{i}_f_1_i_1"
        gt_mask = (
            _blob(rng, h, w)
            if not small_objects or i % 2
            else np.pad(np.ones((3, 3), np.uint8), ((5, h - 8), (5, w - 8)))
        )
        gt["images"].append({"id": image_id, "height": h, "width": w})
        rle = rle_encode(gt_mask)
        gt["annotations"].append(
            {
                "id": i + 1,
                "image_id": image_id,
                "category_id": 1,
                "segmentation": rle,
                "area": float(gt_mask.sum()),
                "iscrowd": 0,
            }
        )
        for _ in range(rng.integers(0, 7)):
            choice = rng.random()
            mask = (
                gt_mask
                if choice < 0.3
                else np.roll(gt_mask, rng.integers(-6, 7), axis=1)
                if choice < 0.7
                else _blob(rng, h, w)
            )
            score = float(np.round(rng.random(), 2))  # rounded: ties between scores happen
            predictions.append(
                {"image_id": image_id, "category_id": 1, "segmentation": rle_encode(mask), "score": score}
            )
    return gt, predictions


def _reference(tmp_path, gt, predictions):
    mask_util, COCO, COCOeval = _pycocotools()
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    coco_gt = COCO(str(gt_path))
    coco_pred = coco_gt.loadRes(predictions) if predictions else None
    evaluation = COCOeval(coco_gt, coco_pred, iouType="segm")
    evaluation.params.useCats = 0
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    out = dict(zip(AP_LABELS, evaluation.stats[:6]))
    # MTTR's metrics.calculate_precision_at_k_and_iou_metrics
    ious, inter_total, union_total = [], 0.0, 0.0
    for image_id in coco_gt.imgs:
        gt_mask = mask_util.decode(coco_gt.imgToAnns[image_id][0]["segmentation"]).astype(bool)
        best = sorted(coco_pred.imgToAnns[image_id], key=lambda a: a["score"])[-1]
        pred = mask_util.decode(best["segmentation"]).astype(bool)
        inter, union = float((pred & gt_mask).sum()), float((pred | gt_mask).sum())
        ious.append((inter + 1e-6) / (union + 1e-6))
        inter_total, union_total = inter_total + inter, union_total + union
    ious = np.array(ious)
    out.update({f"P@{k}": float((ious > k).mean()) for k in (0.5, 0.6, 0.7, 0.8, 0.9)})
    out.update({"overall_iou": inter_total / union_total, "mean_iou": float(ious.mean())})
    return out


def test_rle_round_trip_and_pycocotools_strings():
    mask_util, _, _ = _pycocotools()
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (7, 5), (40, 56), (3, 200)]:
        for density in (0.0, 0.1, 0.5, 1.0):
            mask = (rng.random(shape) < density).astype(np.uint8)
            ours = rle_encode(mask)
            theirs = mask_util.encode(np.asfortranarray(mask))
            assert ours["counts"] == theirs["counts"].decode("ascii") and ours["size"] == list(theirs["size"])
            assert np.array_equal(rle_decode(ours), mask.astype(bool))
            assert np.array_equal(rle_decode(theirs), mask.astype(bool))


@pytest.mark.parametrize("seed,images,small", [(1, 12, False), (2, 30, True), (3, 5, False)])
def test_mask_ap_and_iou_metrics_match_pycocotools(tmp_path, seed, images, small):
    rng = np.random.default_rng(seed)
    gt, predictions = _case(rng, images, small_objects=small)
    for image in gt["images"]:  # MTTR's metrics need a prediction per image
        if not any(p["image_id"] == image["id"] for p in predictions):
            predictions.append(
                {
                    "image_id": image["id"],
                    "category_id": 1,
                    "segmentation": rle_encode(np.zeros((40, 56), bool)),
                    "score": 0.5,
                }
            )
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    (tmp_path / "gt_ours.json").write_text(json.dumps(gt))
    ours = evaluate_coco_files(tmp_path / "pred.json", tmp_path / "gt_ours.json")
    reference = _reference(tmp_path, gt, predictions)
    assert ours.keys() == reference.keys()
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < ours["mAP 0.5:0.95"] < 1


def test_rvos_eval_scores_coco_files(tmp_path):
    from typer.testing import CliRunner

    from rvos_cli.cli import app

    rng = np.random.default_rng(4)
    gt, predictions = _case(rng, 6)
    for image in gt["images"]:
        mask = rle_decode(next(a for a in gt["annotations"] if a["image_id"] == image["id"])["segmentation"])
        predictions.append({"image_id": image["id"], "category_id": 1, "segmentation": rle_encode(mask), "score": 0.99})
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "pred.json"), str(tmp_path / "gt.json"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics == evaluate_coco_files(tmp_path / "pred.json", tmp_path / "gt.json")
    assert metrics["P@0.9"] == 1.0 and metrics["mean_iou"] == pytest.approx(1.0)  # the exact masks score highest
    (tmp_path / "bad.json").write_text(json.dumps([{"image_id": "nope", "segmentation": {}, "score": 1}]))
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "bad.json"), str(tmp_path / "gt.json")])
    assert result.exit_code == 2 and "lacks" in result.output
