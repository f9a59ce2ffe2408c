"""A2D-Sentences / JHMDB-Sentences mask metrics as MTTR's evaluation computes them, without pycocotools.

- COCO mask mAP (`COCOeval(iouType="segm")` with `useCats = 0`): mAP@0.5:0.95, AP50, AP75 and the
  small / medium / large APs, from every predicted mask with its score, reproducing pycocotools'
  greedy matching, area ranges, 101-point interpolated precision and averaging.
- MTTR's `calculate_precision_at_k_and_iou_metrics`: per ground-truth image the highest-scoring mask's
  IoU ((I + 1e-6) / (U + 1e-6)), precision@{0.5..0.9} (IoU strictly above), overall IoU (summed I over
  summed U) and mean IoU.
- COCO's compressed RLE (`{"size": [h, w], "counts": str}`), to read and write the JSON files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rvos_cli.errors import InputError

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0, 1e10), "small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, 1e10)}
MAX_DETECTIONS = 100
PRECISION_AT = (0.5, 0.6, 0.7, 0.8, 0.9)
AP_LABELS = ("mAP 0.5:0.95", "AP 0.5", "AP 0.75", "AP 0.5:0.95 S", "AP 0.5:0.95 M", "AP 0.5:0.95 L")


def rle_encode(mask: np.ndarray) -> dict:
    """A binary [H, W] mask -> COCO's compressed RLE (column-major runs, starting with zeros)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": _compress(runs)}


def _compress(runs: list[int]) -> str:
    out = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run  # pycocotools stores runs after the second as deltas
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _decompress(counts: str) -> list[int]:
    runs, position = [], 0
    while position < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[position]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            position += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def rle_decode(rle: dict) -> np.ndarray:
    """COCO RLE (compressed string or uncompressed list of counts) -> bool [H, W]."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        runs = counts
    else:
        runs = _decompress(counts.decode("ascii") if isinstance(counts, bytes) else counts)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    if flat.size != h * w:
        raise InputError(f"an RLE mask of size {h}x{w} has {flat.size} pixels; the file is corrupt")
    return flat.reshape((w, h)).T


@dataclass
class ImageStats:
    """What COCO's evaluation needs of one image: detection scores [D] and areas [D], ground-truth areas [G],
    crowd flags [G], ids [G] (>= 1) and the IoU matrix [D, G]."""

    scores: np.ndarray
    dt_areas: np.ndarray
    gt_areas: np.ndarray
    gt_crowd: np.ndarray
    ious: np.ndarray


def mask_ious(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """[D, G] IoU of bool masks dt [D, H, W] and gt [G, H, W]; against a crowd region, I / area(dt)."""
    d = dt.reshape(len(dt), -1).astype(np.float64)
    g = gt.reshape(len(gt), -1).astype(np.float64)
    inter = d @ g.T
    dt_area, gt_area = d.sum(1)[:, None], g.sum(1)[None, :]
    union = np.where(crowd[None, :].astype(bool), dt_area, dt_area + gt_area - inter)
    return np.where(union > 0, inter / np.maximum(union, 1e-300), 0.0)


def image_stats(scores, dt_masks: np.ndarray, gt_masks: np.ndarray, gt_crowd=None) -> ImageStats:
    """ImageStats of one image from bool masks (the detections in any order)."""
    scores = np.asarray(scores, dtype=np.float64)
    crowd = np.zeros(len(gt_masks), dtype=bool) if gt_crowd is None else np.asarray(gt_crowd, dtype=bool)
    ious = mask_ious(dt_masks, gt_masks, crowd) if len(dt_masks) and len(gt_masks) else np.zeros((len(scores), 0))
    return ImageStats(
        scores,
        dt_masks.reshape(len(dt_masks), -1).sum(1).astype(np.float64),
        gt_masks.reshape(len(gt_masks), -1).sum(1).astype(np.float64),
        crowd,
        ious,
    )


def _evaluate_image(image: ImageStats, area: tuple[float, float]) -> dict | None:
    """pycocotools' `evaluateImg` for one image, one area range, maxDets 100."""
    g, d = len(image.gt_areas), len(image.scores)
    if g == 0 and d == 0:
        return None
    order = np.argsort(-image.scores, kind="mergesort")[:MAX_DETECTIONS]
    gt_ignore = (image.gt_crowd | (image.gt_areas < area[0]) | (image.gt_areas > area[1])).astype(int)
    gt_order = np.argsort(gt_ignore, kind="mergesort")
    gt_ignore, crowd = gt_ignore[gt_order], image.gt_crowd[gt_order]
    ious = image.ious[order][:, gt_order] if g else np.zeros((len(order), 0))
    t = len(IOU_THRESHOLDS)
    gt_matched = np.zeros((t, g), dtype=bool)
    dt_matched = np.zeros((t, len(order)), dtype=bool)
    dt_ignore = np.zeros((t, len(order)), dtype=bool)
    for ti, threshold in enumerate(IOU_THRESHOLDS):
        for di in range(len(order)):
            best, match = min(threshold, 1 - 1e-10), -1
            for gi in range(g):
                if gt_matched[ti, gi] and not crowd[gi]:
                    continue
                if match > -1 and gt_ignore[match] == 0 and gt_ignore[gi] == 1:
                    break
                if ious[di, gi] < best:
                    continue
                best, match = ious[di, gi], gi
            if match == -1:
                continue
            dt_ignore[ti, di] = bool(gt_ignore[match])
            dt_matched[ti, di] = True
            gt_matched[ti, match] = True
    dt_areas = image.dt_areas[order]
    outside = (dt_areas < area[0]) | (dt_areas > area[1])
    dt_ignore |= ~dt_matched & outside[None, :]
    return {"scores": image.scores[order], "matched": dt_matched, "ignore": dt_ignore, "gt_ignore": gt_ignore}


def _precision(results: list[dict]) -> np.ndarray:
    """[T, R] interpolated precision (pycocotools' `accumulate`), -1 where undefined."""
    precision = -np.ones((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
    results = [r for r in results if r is not None]
    if not results:
        return precision
    scores = np.concatenate([r["scores"] for r in results])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([r["matched"] for r in results], axis=1)[:, order]
    ignore = np.concatenate([r["ignore"] for r in results], axis=1)[:, order]
    positives = int(np.count_nonzero(np.concatenate([r["gt_ignore"] for r in results]) == 0))
    if positives == 0:
        return precision
    tp = np.cumsum(matched & ~ignore, axis=1).astype(float)
    fp = np.cumsum(~matched & ~ignore, axis=1).astype(float)
    for ti in range(len(IOU_THRESHOLDS)):
        recall = tp[ti] / positives
        pr = (tp[ti] / (fp[ti] + tp[ti] + np.spacing(1))).tolist()
        for i in range(len(pr) - 1, 0, -1):
            if pr[i] > pr[i - 1]:
                pr[i - 1] = pr[i]
        q = np.zeros(len(RECALL_THRESHOLDS))
        for ri, pi in enumerate(np.searchsorted(recall, RECALL_THRESHOLDS, side="left")):
            if pi >= len(pr):
                break
            q[ri] = pr[pi]
        precision[ti] = q
    return precision


def coco_mask_ap(images: list[ImageStats]) -> dict[str, float]:
    """COCOeval's stats[0:6] (segm, useCats 0, maxDets 100), named as MTTR logs them; -1 where undefined."""
    out = {}
    precisions = {name: _precision([_evaluate_image(i, rng) for i in images]) for name, rng in AREA_RANGES.items()}

    def mean(p: np.ndarray) -> float:
        valid = p[p > -1]
        return float(valid.mean()) if valid.size else -1.0

    out[AP_LABELS[0]] = mean(precisions["all"])
    out[AP_LABELS[1]] = mean(precisions["all"][0])
    out[AP_LABELS[2]] = mean(precisions["all"][5])
    for label, name in zip(AP_LABELS[3:], ("small", "medium", "large")):
        out[label] = mean(precisions[name])
    return out


@dataclass
class TopMatch:
    """The highest-scoring prediction's intersection and union with one ground-truth mask."""

    intersection: float
    union: float

    @property
    def iou(self) -> float:
        return (self.intersection + 1e-6) / (self.union + 1e-6)


def top_match(scores, dt_masks: np.ndarray, gt_mask: np.ndarray) -> TopMatch:
    """MTTR's choice: the last of the highest scores (a stable sort by score, then the last element)."""
    best = int(np.argsort(np.asarray(scores), kind="stable")[-1])
    pred, gt = dt_masks[best].astype(bool), gt_mask.astype(bool)
    return TopMatch(float(np.count_nonzero(pred & gt)), float(np.count_nonzero(pred | gt)))


def precision_and_iou(matches: list[TopMatch]) -> dict[str, float]:
    """precision@K, overall IoU and mean IoU over one ground-truth mask each."""
    ious = np.array([m.iou for m in matches])
    out = {f"P@{k}": float((ious > k).mean()) for k in PRECISION_AT}
    union = sum(m.union for m in matches)
    out["overall_iou"] = sum(m.intersection for m in matches) / union if union else 0.0
    out["mean_iou"] = float(ious.mean())
    return out


@dataclass
class MaskMetrics:
    """Accumulates images (every prediction of one annotated frame and its ground truth) for both metric sets."""

    images: dict[str, ImageStats] = field(default_factory=dict)
    matches: list[TopMatch] = field(default_factory=list)

    def add(self, image_id: str, scores, dt_masks: np.ndarray, gt_mask: np.ndarray) -> None:
        """One referred object's frame: scores [D], dt_masks bool [D, H, W], gt_mask bool [H, W]."""
        self.images[image_id] = image_stats(scores, dt_masks, gt_mask[None])
        self.matches.append(top_match(scores, dt_masks, gt_mask))

    def summary(self) -> dict[str, float]:
        if not self.images:
            return {}
        # COCOeval visits the images in sorted id order, which decides ties between scores.
        images = [self.images[k] for k in sorted(self.images)]
        return {**coco_mask_ap(images), **precision_and_iou(self.matches)}


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path} ({exc}); pass a COCO-format JSON file") from None


def evaluate_coco_files(pred_path: Path, gt_path: Path) -> dict[str, float]:
    """MTTR's evaluation of a results file (a list of {image_id, segmentation (RLE), score}) against a
    COCO-format ground truth (`create_gt_in_coco_format.py`'s: one referred mask per image)."""
    gt = _read_json(gt_path, "ground truth")
    predictions = _read_json(pred_path, "predictions")
    if not isinstance(gt, dict) or "annotations" not in gt or "images" not in gt:
        raise InputError(f"{gt_path} is not COCO-format ground truth (images, annotations)")
    if isinstance(predictions, dict):
        predictions = predictions.get("annotations", [])
    image_ids = sorted(image["id"] for image in gt["images"])  # COCOeval's order, which decides score ties
    known = set(image_ids)
    unknown = [p["image_id"] for p in predictions if p["image_id"] not in known]
    if unknown:
        raise InputError(f"predictions name images the ground truth lacks (e.g. {unknown[0]!r}); pass matching files")
    gt_by_image: dict = {i: [] for i in image_ids}
    for annotation in gt["annotations"]:
        gt_by_image[annotation["image_id"]].append(annotation)
    pred_by_image: dict = {i: [] for i in image_ids}
    for prediction in predictions:
        pred_by_image[prediction["image_id"]].append(prediction)
    metrics = MaskMetrics()
    for image_id in image_ids:
        gts, preds = gt_by_image[image_id], pred_by_image[image_id]
        gt_masks = np.stack([rle_decode(a["segmentation"]) for a in gts]) if gts else None
        dt_masks = np.stack([rle_decode(p["segmentation"]) for p in preds]) if preds else None
        scores = np.array([p["score"] for p in preds], dtype=np.float64)
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in gts])
        if gt_masks is None:
            shape = (0, *dt_masks.shape[1:]) if dt_masks is not None else (0, 1, 1)
            gt_masks = np.zeros(shape, dtype=bool)
        if dt_masks is None:
            dt_masks = np.zeros((0, *gt_masks.shape[1:]), dtype=bool)
        stats = image_stats(scores, dt_masks, gt_masks, crowd)
        if gts and all("area" in a for a in gts):  # COCOeval ranges ground truth by the file's areas
            stats.gt_areas = np.array([float(a["area"]) for a in gts])
        metrics.images[image_id] = stats
        if gts and preds:
            metrics.matches.append(top_match(scores, dt_masks, gt_masks[0]))
        elif gts:
            metrics.matches.append(TopMatch(0.0, float(gt_masks[0].sum())))
    if not metrics.images:
        raise InputError(f"{gt_path} has no images to evaluate")
    return metrics.summary()
