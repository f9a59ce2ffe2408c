"""Frames and texts in the form MTTR was evaluated on (Ref-YouTube-VOS settings)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resized_size(height: int, width: int, size: int = 360, max_size: int | None = 640) -> tuple[int, int]:
    """DETR's resize rule: short side `size`, unless that makes the long side exceed `max_size`."""
    short, long = min(height, width), max(height, width)
    if max_size is not None and long / short * size > max_size:
        size = int(round(max_size * short / long))
    if short == size:
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def frames_to_tensor(frames: np.ndarray | list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """RGB uint8 frames [T, H0, W0, 3] -> normalized video [T, 3, h, w] (float32, ImageNet statistics).

    Antialiased bilinear resizing, as PIL's resize in the reference's transforms.
    """
    video = torch.from_numpy(np.ascontiguousarray(np.stack(frames))).permute(0, 3, 1, 2).float().div_(255)
    if tuple(video.shape[-2:]) != tuple(size):
        video = F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (video - mean) / std


def normalize_text(text: str) -> str:
    """Lower case with single spaces, as the Ref-YouTube-VOS expressions were given to the model."""
    return " ".join(text.lower().split())
