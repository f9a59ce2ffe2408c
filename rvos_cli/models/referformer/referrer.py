"""ReferFormer as a `ReferringModel`: the official Ref-YouTube-VOS inference's pre- and post-processing."""

from __future__ import annotations

import torch

from rvos_cli.models.referformer.postprocess import frame_scores as selected_frame_scores
from rvos_cli.models.referformer.postprocess import select_referred
from rvos_cli.models.referring import WindowedReferrer


class ReferFormerReferrer(WindowedReferrer):
    """ReferFormer: short side 360 and, unlike MTTR and SOC, no bound on the long side (`max_size`
    None); masks upsampled from stride 4 straight to the frames."""

    name = "referformer"
    # Its decode keeps several [B*T, 256, h/4, w/4] maps: 2 queries on 36 frames at 360x640 peaked at
    # 13 GB on a CPU. One query per call at the default window.
    decode_frames = 36

    def __init__(self, network: torch.nn.Module, size: int = 360, max_size: int | None = None):
        super().__init__(network, size, max_size)

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        return select_referred(out, original_size=original_size)

    def frame_scores(self, out: dict, selected: torch.Tensor) -> torch.Tensor:
        return selected_frame_scores(out, selected)
