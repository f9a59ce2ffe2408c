"""Frames as the referring models' evaluations feed them: resized PIL images, ImageNet-normalised.

MTTR, ReferFormer and SOC all resize PIL images with torchvision (`T.Resize(360)` or DETR's
`RandomResize([360], max_size=640)`), i.e. PIL's antialiased bilinear filter, reproduced here
exactly: PIL resamples 8-bit images in two separable passes (horizontal, then vertical) with
22-bit fixed-point weights, rounding to uint8 after each pass.
"""

from __future__ import annotations

import math

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SHORT_SIDE = 360
PRECISION_BITS = 32 - 8 - 2  # PIL's fixed-point precision for 8-bit images


def resized_size(height: int, width: int, size: int = SHORT_SIDE, max_size: int | None = None) -> tuple[int, int]:
    """DETR's resize rule: short side `size`, unless that makes the long side exceed `max_size`
    (then the short side is round(max_size * short / long)); the long side is truncated. With no
    `max_size` this is torchvision's Resize(size)."""
    short, long = min(height, width), max(height, width)
    if max_size is not None and long / short * size > max_size:
        size = int(round(max_size * short / long))
    if short == size:
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def bilinear_coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear (triangle) filter.

    Out: first input index per output pixel [out], fixed-point weights [out, ksize] (int64, zero past
    the window). The filter widens by the scale when shrinking, which is PIL's antialiasing.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = filterscale  # the triangle's support is 1
    ksize = math.ceil(support) * 2 + 1
    centers = (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(centers - support + 0.5).astype(np.int64), 0)  # C's (int) truncates
    count = np.minimum(np.trunc(centers + support + 0.5).astype(np.int64), in_size) - first
    taps = np.arange(ksize)
    weights = np.maximum(0.0, 1.0 - np.abs((taps + first[:, None] - centers[:, None] + 0.5) * (1.0 / filterscale)))
    weights[taps >= count[:, None]] = 0.0
    total = np.zeros(out_size)
    for k in range(ksize):  # PIL sums in tap order; a pairwise sum could round differently
        total += weights[:, k]
    weights /= np.where(total == 0, 1.0, total)[:, None]
    return first, np.trunc(0.5 + weights * (1 << PRECISION_BITS)).astype(np.int64)


def resample_rows(image: np.ndarray, out_size: int) -> np.ndarray:
    """One PIL pass along axis 1 of a uint8 [H, W, C] image -> uint8 [H, out_size, C]."""
    first, weights = bilinear_coefficients(image.shape[1], out_size)
    source = image.astype(np.int64)
    acc = np.full((image.shape[0], out_size, image.shape[2]), 1 << (PRECISION_BITS - 1), dtype=np.int64)
    for k in range(weights.shape[1]):
        index = np.minimum(first + k, image.shape[1] - 1)  # taps past the window have weight 0
        acc += source[:, index] * weights[None, :, k, None]
    return np.clip(acc >> PRECISION_BITS, 0, 255).astype(np.uint8)


def resize_bilinear_pil(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL's `Image.resize((w, h), BILINEAR)` of an RGB uint8 [H, W, 3] array, bit-exact."""
    h, w = size
    if w != image.shape[1]:
        image = resample_rows(image, w)
    if h != image.shape[0]:
        image = resample_rows(image.transpose(1, 0, 2), h).transpose(1, 0, 2)
    return np.ascontiguousarray(image)


def frames_to_tensor(frames: np.ndarray | list[np.ndarray], size: tuple[int, int] | None = None) -> torch.Tensor:
    """RGB uint8 frames [T, H0, W0, 3] -> normalized video [T, 3, h, w] float32, as `inference_ytvos.transform`.

    size defaults to `resized_size` of the frames (short side 360, no bound on the long side).
    """
    size = size or resized_size(*np.asarray(frames[0]).shape[:2])
    resized = np.stack([resize_bilinear_pil(np.asarray(frame), size) for frame in frames])
    video = torch.from_numpy(resized).permute(0, 3, 1, 2).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (video - mean) / std
