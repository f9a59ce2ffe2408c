"""Frames and texts in the form SOC was evaluated on (`infer_refytb.py`, Ref-YouTube-VOS).

`RandomResize([360], max_size=640)` on a PIL image, `ToTensor`, ImageNet `Normalize`: MTTR's DETR
size rule with ReferFormer's bit-exact reproduction of PIL's bilinear resize.
"""

from __future__ import annotations

import numpy as np
import torch

from rvos_cli.models.mttr.preprocess import resized_size
from rvos_cli.models.referformer.preprocess import frames_to_tensor

SHORT_SIDE = 360
MAX_LONG_SIDE = 640


def input_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) the model sees for frames of (height, width).

    The short side becomes 360 unless the long side would exceed 640, in which case the short
    side becomes round(640·short/long); the long side is then truncated: 720p -> 360x640,
    1280x640 -> 320x640, 300x1000 -> 192x640.
    """
    return resized_size(height, width, SHORT_SIDE, MAX_LONG_SIDE)


def preprocess_frames(frames: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """RGB uint8 frames [T, H0, W0, 3] -> normalized video [T, 3, h, w] float32 at `input_size`
    (bit-identical to the official transform)."""
    height, width = np.asarray(frames[0]).shape[:2]
    return frames_to_tensor(frames, input_size(height, width))


def prepare_text(text: str) -> str:
    """The expression as `infer_refytb.py` tokenizes it: raw, NOT lower-cased or re-spaced."""
    return text
