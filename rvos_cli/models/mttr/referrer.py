"""MTTR as a `ReferringModel`: the Ref-YouTube-VOS evaluation's pre- and post-processing."""

from __future__ import annotations

import numpy as np
import torch

from rvos_cli.models.mttr.mttr import MTTR, VideoFeatures
from rvos_cli.models.mttr.postprocess import select_referred
from rvos_cli.models.mttr.preprocess import frames_to_tensor, normalize_text, resized_size


class MttrReferrer:
    """MTTR with short side `size` and long side at most `max_size` (360 and 640 in its evaluation)."""

    name = "mttr"

    def __init__(self, network: MTTR, size: int = 360, max_size: int | None = 640):
        self.network, self.size, self.max_size = network, size, max_size

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        return resized_size(height, width, self.size, self.max_size)

    def prepare_text(self, text: str) -> str:
        return normalize_text(text)

    def preprocess(self, frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        return frames_to_tensor(frames, size)

    def encode(self, video: torch.Tensor) -> VideoFeatures:
        return self.network.encode_video(video.unsqueeze(1))

    def decode(self, features: VideoFeatures, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return self.network.decode(features, input_ids, attention_mask)

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        return select_referred(out, input_size=input_size, original_size=original_size)
