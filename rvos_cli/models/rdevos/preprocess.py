"""Padding to the network stride, resizing to the processing resolution, and frames to the device."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

STRIDE = 16


def to_device(image: np.ndarray, device: torch.device) -> Tensor:
    """HxWx3 uint8 RGB -> the same uint8 tensor on `device`; to a GPU from page-locked memory without
    waiting (a quarter of the bytes of the float image, and the host is free for the next frame)."""
    x = torch.from_numpy(np.ascontiguousarray(image))
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def pad_to_stride(x: Tensor, stride: int = STRIDE) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dims to multiples of `stride`, the smaller half on top/left.

    Returns the padded tensor and `pad` = (left, right, top, bottom).
    """
    h, w = x.shape[-2:]
    dh, dw = -h % stride, -w % stride
    pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    return F.pad(x, pad), pad


def unpad(x: Tensor, pad: tuple[int, int, int, int]) -> Tensor:
    left, right, top, bottom = pad
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


def processing_size(height: int, width: int, shorter_side: int, upscale: bool = True) -> tuple[int, int]:
    """(H, W) with the shorter side resized to `shorter_side` (0 keeps the size), as torchvision's Resize(int).

    With `upscale` False a frame whose shorter side is already below `shorter_side` keeps its size.
    """
    if shorter_side <= 0 or min(height, width) == shorter_side:
        return height, width
    if not upscale and min(height, width) < shorter_side:
        return height, width
    if height <= width:
        return shorter_side, int(shorter_side * width / height)
    return int(shorter_side * height / width), shorter_side


def resize_image(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize of a normalised [B,3,H,W] image (the YouTube-VOS evaluation resizes after normalising)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def resize_labels(labels: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest resize of an integer label map [H,W], as the official evaluation does it.

    torchvision's `Resize(size, InterpolationMode.NEAREST)` on a tensor is the legacy `nearest`:
    output pixel `d` reads source pixel `floor(d * in / out)` (not `nearest-exact`'s centre rule).
    """
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].to(labels.dtype)


def resize_probs(probs: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of probabilities [C,H,W] back to the output size."""
    if tuple(probs.shape[-2:]) == tuple(size):
        return probs
    return F.interpolate(probs[None], size=size, mode="bilinear", align_corners=False)[0]
