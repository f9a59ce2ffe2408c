"""What a referring model offers the `rvos refer` pipeline, whatever its architecture.

The pipeline decodes frames, groups them into windows and writes outputs; a `ReferringModel`
turns a window of frames and a batch of text queries into masks. The backbone does not see the
text, so `encode` runs once per window and `decode` takes every query as one batch.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import numpy as np
import torch

from rvos_cli.models.common.frames import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRECISION_BITS,
    bilinear_coefficients,
    resized_size,
)


class ReferringModel(Protocol):
    """name: the registry model name. network: the torch module (moved to the run's device)."""

    name: str
    network: torch.nn.Module

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The model input (h, w) for frames of (height, width)."""

    def prepare_text(self, text: str) -> str:
        """A query as the model was evaluated on it (e.g. lower-cased for MTTR, as given for ReferFormer)."""

    def preprocess(self, frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        """RGB uint8 frames [H0, W0, 3] -> the normalised video [T, 3, h, w] (float32, CPU)."""

    def encode(self, video: torch.Tensor) -> Any:
        """video [T, 3, h, w] on the model's device -> the text-independent features of the window."""

    def decode(self, features: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        """All Q queries ([Q, L] RoBERTa ids, right-padded) against the window's features."""

    def select(
        self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> masks [Q, T, H0, W0] uint8 0/1, scores [Q, N] per object query, selected [Q]."""


class Referrer:
    """The common ground of the referring models' adapters: DETR's resize rule (short side `size`,
    long side at most `max_size`, None for no bound), PIL's bilinear resize reproduced bit-exactly
    (all three originals resize PIL images) and ImageNet normalisation, queries as written, and a
    network with `encode_video` / `decode`. A model overrides what its evaluation does differently."""

    name = ""

    def __init__(self, network: torch.nn.Module, size: int = 360, max_size: int | None = 640):
        self.network, self.size, self.max_size = network, size, max_size

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        return resized_size(height, width, self.size, self.max_size)

    def prepare_text(self, text: str) -> str:
        return text

    def preprocess(self, frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        return normalized_video(frames, size)

    def encode(self, video: torch.Tensor) -> Any:
        return self.network.encode_video(video)

    def decode(self, features: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return self.network.decode(features, input_ids, attention_mask)

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        raise NotImplementedError


# --- fast preprocessing -----------------------------------------------------------------------
# `rvos_cli.models.common.frames.frames_to_tensor` gives the same tensors bit for bit (tests check
# it); this is its faster form for the pipelines (about 7x at 1280x720 -> 640x360): int32
# accumulators (PIL's sums stay below 2**31: 255 times weights summing to about 2**22, plus 2**21),
# uint8 taps gathered with `np.take`, the zero-weight taps skipped, and the normalisation a table
# lookup of the 256 values per channel.


def _resample(image: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """One PIL bilinear pass along `axis` (0: rows, 1: columns) of a uint8 [H, W, C] image."""
    first, weights = bilinear_coefficients(image.shape[axis], out_size)
    weights = weights.astype(np.int32)
    shape = list(image.shape)
    shape[axis] = out_size
    acc = np.full(shape, 1 << (PRECISION_BITS - 1), dtype=np.int32)
    last = image.shape[axis] - 1
    for k in range(weights.shape[1]):
        tap = weights[:, k]
        if not tap.any():
            continue
        taps = np.take(image, np.minimum(first + k, last), axis=axis)  # weight 0 past the window
        acc += taps * (tap[:, None, None] if axis == 0 else tap[None, :, None])
    np.right_shift(acc, PRECISION_BITS, out=acc)
    return np.clip(acc, 0, 255).astype(np.uint8)


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL's `Image.resize((w, h), BILINEAR)` of an RGB uint8 [H, W, 3] array, bit-exact (as
    `frames.resize_bilinear_pil`): horizontal pass, then vertical, uint8 in between."""
    height, width = size
    if width != image.shape[1]:
        image = _resample(image, width, 1)
    if height != image.shape[0]:
        image = _resample(image, height, 0)
    return np.ascontiguousarray(image)


@functools.cache
def _normalize_table() -> np.ndarray:
    """[3, 256] float32: ImageNet-normalised value of each uint8 per channel, computed with the
    same float32 operations as `frames_to_tensor` (so a lookup gives the same floats)."""
    values = torch.arange(256, dtype=torch.float32).div(255)[None]
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None], torch.tensor(IMAGENET_STD)[:, None]
    return np.ascontiguousarray(((values - mean) / std).numpy())


def normalized_video(frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """RGB uint8 frames -> the ImageNet-normalised video [T, 3, h, w] float32, as `frames_to_tensor`
    (resized as PIL does, then normalised by a per-channel table lookup). Pure numpy: it runs in the
    reader thread, which must not be inside a library's own thread pool when the process ends."""
    table = _normalize_table()
    video = np.empty((len(frames), 3, *size), np.float32)
    for t, frame in enumerate(frames):
        resized = resize_bilinear(np.asarray(frame), size)
        for channel in range(3):
            np.take(table[channel], resized[:, :, channel], out=video[t, channel])
    return torch.from_numpy(video)
