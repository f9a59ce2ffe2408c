"""MTTR as a `ReferringModel`: the Ref-YouTube-VOS evaluation's pre- and post-processing."""

from __future__ import annotations

import torch

from rvos_cli.models.mttr.mttr import VideoFeatures
from rvos_cli.models.mttr.postprocess import frame_scores as selected_frame_scores
from rvos_cli.models.mttr.postprocess import select_referred
from rvos_cli.models.mttr.preprocess import normalize_text
from rvos_cli.models.referring import WindowedReferrer


class MttrReferrer(WindowedReferrer):
    """MTTR: short side 360, long side at most 640; queries lower-cased as in its training data;
    masks thresholded at the input size, then resized (nearest) to the frames."""

    name = "mttr"

    def prepare_text(self, text: str) -> str:
        return normalize_text(text)

    def encode(self, video: torch.Tensor) -> VideoFeatures:
        return self.network.encode_video(video.unsqueeze(1))  # [T, B=1, 3, h, w]

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        return select_referred(out, input_size=input_size, original_size=original_size)

    def frame_scores(self, out: dict, selected: torch.Tensor) -> torch.Tensor:
        return selected_frame_scores(out, selected)
