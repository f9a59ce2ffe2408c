"""SOC as a `ReferringModel`: the official Ref-YouTube-VOS inference's pre- and post-processing."""

from __future__ import annotations

import torch

from rvos_cli.models.referring import WindowedReferrer
from rvos_cli.models.soc.postprocess import frame_scores as selected_frame_scores
from rvos_cli.models.soc.postprocess import select_referred


class SocReferrer(WindowedReferrer):
    """SOC: short side 360, long side at most 640 (`RandomResize([360], max_size=640)`); expressions
    as written; masks upsampled from stride 4 straight to the frames."""

    name = "soc"
    decode_frames = 36  # as ReferFormer (2 queries on 36 frames at 360x640 peaked at 7.3 GB on a CPU)

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        return select_referred(out, original_size=original_size)

    def frame_scores(self, out: dict, selected: torch.Tensor) -> torch.Tensor:
        return selected_frame_scores(out, selected)
