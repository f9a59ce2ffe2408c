"""What a referring model offers the `rvos refer` pipeline, whatever its architecture.

The pipeline decodes frames, groups them into windows and writes outputs; a `ReferringModel`
turns a window of frames and a batch of text queries into masks. The backbone does not see the
text, so `encode` runs once per window and `decode` takes every query as one batch.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np
import torch

from rvos_cli.models.common.frames import normalize_video, resize_bilinear_pil, resize_video_pil, resized_size


class ReferringModel(Protocol):
    """name: the registry model name. network: the torch module (on the run's device).
    decode_frames: the most frames times queries one `decode` call takes (None: all queries at once);
    the pipeline splits the queries of a window to stay within it, bounding the decode's memory."""

    name: str
    network: torch.nn.Module
    decode_frames: int | None

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The model input (h, w) for frames of (height, width)."""

    def prepare_text(self, text: str) -> str:
        """A query as the model was evaluated on it (e.g. lower-cased for MTTR, as given for ReferFormer)."""

    def preprocess(self, frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        """RGB uint8 frames [H0, W0, 3] -> the frames at the model input, uint8 [T, h, w, 3] (CPU).

        Runs where the frames are decoded, so one frame is resized once even when windows overlap."""

    def model_input(self, video: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """uint8 frames [T, H, W, 3] on the model's device, at the model input or still at the frames'
        size (then resized there) -> the normalised video [T, 3, h, w] float32."""

    def encode(self, video: torch.Tensor) -> Any:
        """video [T, 3, h, w] on the model's device -> the text-independent features of the window."""

    def decode(self, features: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        """All Q queries ([Q, L] RoBERTa ids, right-padded) against the window's features."""

    def select(
        self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> masks [Q, T, H0, W0] uint8 0/1, scores [Q, N] per object query, selected [Q]."""

    def frame_scores(self, out: dict, selected: torch.Tensor) -> torch.Tensor | None:
        """The selected queries' confidence on each frame of the window, [Q, T] (None: the window's
        score stands for each of its frames)."""

    def compile(self, compile_stage: Callable[[Callable], Callable]) -> None:
        """Replace the network's fixed-shape stages by `compile_stage` of them (e.g. `torch.compile`)."""


class WindowedReferrer:
    """The common ground of the windowed referring models' adapters (MTTR, ReferFormer, SOC): DETR's
    resize rule (short side `size`, long side at most `max_size`, None for no bound), PIL's bilinear
    resize reproduced bit-exactly (all three originals resize PIL images) and ImageNet normalisation,
    queries as written, and a network with `encode_video` / `decode`. A model overrides what its
    evaluation does differently."""

    name = ""
    decode_frames: int | None = None

    def __init__(self, network: torch.nn.Module, size: int = 360, max_size: int | None = 640):
        self.network, self.size, self.max_size = network, size, max_size

    @classmethod
    def from_options(cls, network: torch.nn.Module, options, **context) -> WindowedReferrer:
        """The adapter the builder makes: the input bounds of `options` (a `ReferModelOptions`)."""
        return cls(network, *options.input_bounds())

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        return resized_size(height, width, self.size, self.max_size)

    def prepare_text(self, text: str) -> str:
        return text

    def preprocess(self, frames: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        return torch.from_numpy(np.stack([resize_bilinear_pil(np.asarray(frame), size) for frame in frames]))

    def model_input(self, video: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(video.shape[1:3]) != tuple(size):
            video = resize_video_pil(video, size)
        return normalize_video(video)

    def encode(self, video: torch.Tensor) -> Any:
        return self.network.encode_video(video)

    def decode(self, features: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return self.network.decode(features, input_ids, attention_mask)

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        raise NotImplementedError

    def frame_scores(self, out: dict, selected: torch.Tensor) -> torch.Tensor | None:
        return None

    def compile(self, compile_stage: Callable[[Callable], Callable]) -> None:
        # Both stages keep their shapes through a run: the window's frames and size, the query group.
        self.network.encode_video = compile_stage(self.network.encode_video)
        self.network.decode = compile_stage(self.network.decode)
