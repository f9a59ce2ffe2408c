"""Masks drawn over frames: translucent fills with a thin contour in the same colour."""

from __future__ import annotations

import colorsys
import functools

import cv2
import numpy as np

from rvos_cli.video.palette import DAVIS_PALETTE

# Referring queries: 1 blue, 2 red, then further colours far from those and from each other.
QUERY_COLORS = [
    (0, 0, 255),
    (255, 0, 0),
    (0, 200, 0),
    (255, 200, 0),
    (200, 0, 255),
    (0, 220, 220),
    (255, 110, 0),
    (255, 0, 150),
]


def query_color(index: int) -> tuple[int, int, int]:
    """RGB colour of query `index` (0-based): 0 blue, 1 red, ...; golden-angle hues after the fixed list."""
    if index < len(QUERY_COLORS):
        return QUERY_COLORS[index]
    hue = (index * 0.618033988749895) % 1.0
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, 0.9, 0.95))


def _contour_width(height: int, width: int) -> int:
    return max(1, round(min(height, width) / 480))


def _boundary(mask: np.ndarray, thickness: int) -> np.ndarray:
    """Pixels of a uint8 0/1 `mask` that touch a pixel outside it (4-neighbourhood), thickened inwards."""
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (2 * thickness + 1, 2 * thickness + 1))
    inner = cv2.erode(mask, kernel, borderType=cv2.BORDER_REPLICATE)
    return cv2.compare(mask, inner, cv2.CMP_GT)  # 255 on the boundary: mask > 0 and inner == 0


@functools.lru_cache(maxsize=256)
def _blend_table(color: tuple[int, int, int], alpha: float) -> np.ndarray:
    """[256, 1, 3] uint8: per channel, round((1 - alpha) * v + alpha * color) for every value v,
    computed in float32 as the pixel-wise formula was (so the lookup gives identical pixels)."""
    values = np.arange(256, dtype=np.float32)[:, None]
    blended = (1 - alpha) * values + alpha * np.asarray(color, np.float32)[None, :]
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)[:, None, :]


def _bounds(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The rows and columns that hold the pixels of a uint8 0/1 mask (None when it is empty)."""
    x, y, width, height = cv2.boundingRect(mask)
    if width == 0 or height == 0:
        return None
    return slice(y, y + height), slice(x, x + width)


def _paint(out: np.ndarray, frame: np.ndarray, mask: np.ndarray, color, alpha: float, thickness: int) -> None:
    """Blend `color` into `out` (uint8) where `mask` (uint8 0/1), from the original `frame`; its
    contour in `color`.

    Only the mask's bounding box is touched: the blend is a per-channel table lookup of the frame's
    values there, copied through the mask with OpenCV (the contour's erosion near the box edge sees
    replicated pixels, as the whole-frame erosion sees the frame's own pixels there; both mark the
    same boundary, see `_boundary`)."""
    box = _bounds(mask)
    if box is None:
        return
    # The erosion of a pixel on the box edge needs the pixels just outside: pad the box by the thickness.
    rows, cols = box
    height, width = mask.shape
    padded = (
        slice(max(0, rows.start - thickness), min(height, rows.stop + thickness)),
        slice(max(0, cols.start - thickness), min(width, cols.stop + thickness)),
    )
    part = np.ascontiguousarray(mask[padded])
    color = tuple(int(c) for c in color)
    target = out[padded]  # a view: OpenCV writes into it, so into `out`
    paint = cv2.LUT(frame[padded], _blend_table(color, float(alpha)))
    cv2.copyTo(paint, part, target)
    cv2.rectangle(paint, (0, 0), paint.shape[1::-1], color, cv2.FILLED)  # 40x faster than numpy's fill
    cv2.copyTo(paint, _boundary(part, thickness), target)


def _ids(labels: np.ndarray) -> np.ndarray:
    """The ids present in `labels`, ascending (a histogram: faster than sorting a frame's pixels)."""
    if labels.dtype.kind in "ui" and labels.size and labels.min() >= 0:
        return np.flatnonzero(np.bincount(labels.ravel()))
    return np.unique(labels)


def overlay_labels(frame: np.ndarray, labels: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """frame [H, W, 3] uint8 RGB, labels [H, W] ids -> [H, W, 3] uint8 with DAVIS palette colours per id."""
    out = frame.copy()
    thickness = _contour_width(*labels.shape)
    for object_id in _ids(labels):
        if object_id:
            _paint(out, frame, (labels == object_id).view(np.uint8), DAVIS_PALETTE[object_id], alpha, thickness)
    return out


def overlay_masks(
    frame: np.ndarray, masks: np.ndarray, alpha: float = 0.6, legend: list[str] | None = None
) -> np.ndarray:
    """frame [H, W, 3] uint8 RGB, masks [Q, H, W] 0/1 -> [H, W, 3] uint8; query q in query_color(q).

    `legend`: one text per query, written in its colour on a dark band at the top of the frame.
    """
    colors = [query_color(q) for q in range(len(masks))]
    out = frame.copy()
    thickness = _contour_width(*frame.shape[:2])
    for mask, color in zip(masks, colors):
        _paint(out, frame, (mask > 0).view(np.uint8), color, alpha, thickness)
    if legend:
        _draw_legend(out, legend, colors)
    return out


def _draw_legend(image: np.ndarray, texts: list[str], colors) -> None:
    height, width = image.shape[:2]
    scale = max(0.35, width / 1280)
    line = int(round(24 * scale)) + 4
    band = min(height, line * len(texts) + 4)
    image[:band] = (image[:band] * 0.4).astype(np.uint8)
    for row, (text, color) in enumerate(zip(texts, colors)):
        origin = (6, 4 + line * (row + 1) - int(6 * scale))
        cv2.putText(
            image,
            text,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7 * scale,
            tuple(int(c) for c in color),
            max(1, int(round(2 * scale))),
            cv2.LINE_AA,
        )
