"""Frames as the referring models' evaluations feed them: resized PIL images, ImageNet-normalised.

MTTR, ReferFormer and SOC all resize PIL images with torchvision (`T.Resize(360)` or DETR's
`RandomResize([360], max_size=640)`), i.e. PIL's antialiased bilinear filter, reproduced here
exactly: PIL resamples 8-bit images in two separable passes (horizontal, then vertical) with
22-bit fixed-point weights, rounding to uint8 after each pass.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
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


@functools.lru_cache(maxsize=16)
def bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`bilinear_coefficients` as gathers: input index [out, taps] (clamped; its weight is 0 past the
    window) and int32 weight [out, taps], the taps no output uses dropped. int32 holds every sum:
    255 times weights summing to about 2**22, plus 2**21, stays below 2**31."""
    first, weights = bilinear_coefficients(in_size, out_size)
    used = np.flatnonzero(weights.any(axis=0))
    index = np.minimum(first[:, None] + used[None, :], in_size - 1)
    return index, np.ascontiguousarray(weights[:, used].astype(np.int32))


ROWS_PER_BLOCK = 32  # output rows per step of a pass: the int32 sums of a block stay in the L2 cache


@dataclass(frozen=True)
class UniformRun:
    """Output rows [lo, hi) that share one weight vector, their taps starting at input row `first` and
    `step` rows apart: a convolution with `kernel` (the weights divided by 2**`shift`, small integers)."""

    lo: int
    hi: int
    first: int
    step: int
    kernel: np.ndarray  # [taps, 1] float32
    shift: int


@functools.lru_cache(maxsize=16)
def uniform_run(in_size: int, out_size: int) -> UniformRun | None:
    """The longest run of output rows that one small integer kernel computes exactly (an exact 2x
    shrink: PIL's weights are 2**19 * [1, 3, 3, 1]), or None. Only steps of 1 or 2 input rows pay:
    the convolution computes every row and keeps one in `step`."""
    index, weights = bilinear_taps(in_size, out_size)
    best = None
    lo = 0
    for hi in range(1, out_size + 1):
        same = hi < out_size and np.array_equal(weights[hi], weights[lo])
        if same and (hi - lo < 2 or index[hi, 0] - index[hi - 1, 0] == index[lo + 1, 0] - index[lo, 0]):
            continue
        if best is None or hi - lo > best[1] - best[0]:
            best = (lo, hi)
        lo = hi
    lo, hi = best
    step = int(index[lo + 1, 0] - index[lo, 0]) if hi - lo > 1 else 0
    weights = weights[lo].astype(np.int64)
    shift = min(int(w & -w).bit_length() - 1 for w in weights if w)
    kernel = weights >> shift
    # int16 holds the sums (255 * 128 < 2**15) and float32 the scaled results exactly.
    if (
        hi - lo < ROWS_PER_BLOCK
        or step not in (1, 2)
        or kernel.sum() > 128
        or (index[lo] != index[lo, 0] + np.arange(index.shape[1])).any()
    ):
        return None
    return UniformRun(lo, hi, int(index[lo, 0]), step, kernel.astype(np.float32)[:, None], shift)


def _resample_uniform(image: np.ndarray, run: UniformRun, out: np.ndarray) -> None:
    """Rows [run.lo, run.hi) of a PIL pass by OpenCV: an exact int16 convolution of every input row,
    then for the kept rows (sum * 2**shift + 2**21) >> 22, which for sums s of the reduced kernel is
    floor(s / 2**(22 - shift) + 1/2) = round(s / 2**(22 - shift) + a quarter step) with no ties."""
    sums = cv2.filter2D(image, cv2.CV_16S, run.kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    kept = sums[run.first : run.first + run.step * (run.hi - run.lo) : run.step]
    scale = 1.0 / (1 << (PRECISION_BITS - run.shift))
    cv2.convertScaleAbs(kept, dst=out[run.lo : run.hi], alpha=scale, beta=scale / 4)


def _resample_rows(image: np.ndarray, out_size: int) -> np.ndarray:
    """One PIL pass along axis 0 of a uint8 [H, W, C] image -> uint8 [out_size, W, C]."""
    index, weights = bilinear_taps(image.shape[0], out_size)
    out = np.empty((out_size, *image.shape[1:]), np.uint8)
    run = uniform_run(image.shape[0], out_size)
    spans = [(0, out_size)]
    if run is not None:
        _resample_uniform(image, run, out)
        spans = [(0, run.lo), (run.hi, out_size)]
    acc = np.empty((min(ROWS_PER_BLOCK, out_size), *image.shape[1:]), np.int32)
    term = np.empty_like(acc)
    for begin, end in spans:
        for start in range(begin, end, ROWS_PER_BLOCK):
            rows = slice(start, min(start + ROWS_PER_BLOCK, end))
            n = rows.stop - rows.start
            acc[:n] = 1 << (PRECISION_BITS - 1)
            for k in range(index.shape[1]):  # whole input rows: contiguous gathers, one weight per row
                np.multiply(image[index[rows, k]], weights[rows, k, None, None], out=term[:n], dtype=np.int32)
                acc[:n] += term[:n]
            np.right_shift(acc[:n], PRECISION_BITS, out=acc[:n])
            np.minimum(acc[:n], 255, out=acc[:n])
            out[rows] = acc[:n]
    return out


def resize_bilinear_pil(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL's `Image.resize((w, h), BILINEAR)` of an RGB uint8 [H, W, 3] array, bit-exact.

    The horizontal pass runs on the transposed image, so both passes work on whole rows: gathered rows
    times one weight each, in int32, or, for the rows of an exact 2x shrink, an OpenCV convolution
    with PIL's weights divided by 2**19 (`uniform_run`). On one core: 1280x720 -> 640x360 in 1.5 ms,
    1920x1080 -> 640x360 in 8.4 ms.
    """
    h, w = size
    if w != image.shape[1]:
        image = cv2.transpose(_resample_rows(cv2.transpose(np.ascontiguousarray(image)), w))
    if h != image.shape[0]:
        image = _resample_rows(image, h)
    return np.ascontiguousarray(image)


def resize_video_pil(video: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`resize_bilinear_pil` of uint8 frames [T, H, W, C] on any device (integer arithmetic, so bit-exact
    there too): the form for a GPU, where the frames go to the device at full size."""
    for dim, out_size in ((2, size[1]), (1, size[0])):  # horizontal pass first, as PIL
        if video.shape[dim] == out_size:
            continue
        index, weights = (torch.from_numpy(a).to(video.device) for a in bilinear_taps(video.shape[dim], out_size))
        shape = [1] * video.dim()
        shape[dim] = out_size
        acc = torch.full(
            (*video.shape[:dim], out_size, *video.shape[dim + 1 :]),
            1 << (PRECISION_BITS - 1),
            dtype=torch.int32,
            device=video.device,
        )
        for k in range(index.shape[1]):
            acc += video.index_select(dim, index[:, k]).to(torch.int32) * weights[:, k].view(shape)
        video = acc.bitwise_right_shift_(PRECISION_BITS).clamp_(max=255).to(torch.uint8)
    return video


@functools.cache
def _normalize_table() -> np.ndarray:
    """[3, 256] float32: the normalised value of each uint8 per channel, by `normalize_video`'s own
    float32 operations (so a lookup gives the same floats)."""
    values = torch.arange(256, dtype=torch.uint8).view(1, 256, 1, 1).expand(1, 256, 1, 3)
    return np.ascontiguousarray(normalize_video(values.contiguous(), lookup=False)[0, :, :, 0].numpy())


def normalize_video(video: torch.Tensor, lookup: bool = True) -> torch.Tensor:
    """uint8 frames [T, h, w, 3] (any device) -> [T, 3, h, w] float32, as torchvision's `ToTensor` and
    `Normalize(IMAGENET_MEAN, IMAGENET_STD)`, with the same float32 operations.

    On a CPU it is a lookup of the 256 values per channel (`lookup`, OpenCV's `LUT` writing each plane
    in place), about 15x cheaper than the arithmetic.
    """
    if lookup and video.device.type == "cpu":
        table, frames = _normalize_table(), video.numpy()
        out = np.empty((frames.shape[0], 3, *frames.shape[1:3]), np.float32)
        for t in range(frames.shape[0]):
            for channel, plane in enumerate(cv2.split(frames[t])):
                cv2.LUT(plane, table[channel], dst=out[t, channel])
        return torch.from_numpy(out)
    mean = torch.tensor(IMAGENET_MEAN, device=video.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=video.device).view(1, 3, 1, 1)
    return (video.permute(0, 3, 1, 2).float().div(255) - mean) / std
