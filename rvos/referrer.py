"""`rvos.Referrer`: a referring model of the registry loaded once, masks streamed per frame."""

from __future__ import annotations

import os
from typing import Iterator, Mapping

import numpy as np
import torch

from rvos.source import Video, video_source
from rvos_cli.models.registry import model_spec
from rvos_cli.pipelines.build import build_referrer
from rvos_cli.pipelines.device import resolve_runtime
from rvos_cli.pipelines.options import RuntimeOptions, WindowOptions, refer_options
from rvos_cli.pipelines.refer import query_texts, segment_windows
from rvos_cli.pipelines.timing import Timings
from rvos_cli.weights.resolve import ResolvedWeights, tokenizer_folder


class Referrer:
    """Segment what text queries describe, as `rvos refer` does.

    weights: a registry name (see `rvos models`); model: a referring model, e.g. mttr, referformer or
    soc (default: the model of `weights`, else the first of the registry, mttr); checkpoint: a file
    fetched by hand, or a state dict in the official layout; tokenizer: a folder with RoBERTa's
    vocab.json and merges.txt (default: the weights entry's, else roberta-base's). The model and
    tokenizer are loaded once, here; missing weights raise MissingWeightsError, bad options InputError.
    """

    def __init__(
        self,
        weights: str | None = None,
        *,
        model: str | None = None,
        checkpoint: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
        tokenizer: str | os.PathLike | None = None,
        device: str = "auto",
        precision: str = "auto",
        size: int | None = None,
        max_size: int | None = None,
        window: int | None = None,
        overlap: int = 6,
        compile: bool = False,
        cache_dir: str | os.PathLike | None = None,
    ):
        state = checkpoint if isinstance(checkpoint, Mapping) else None
        file = None if state is not None else checkpoint
        options = refer_options(
            model, weights, checkpoint=file, tokenizer=tokenizer, size=size, max_size=max_size, cache_dir=cache_dir
        )
        self.windows = WindowOptions(options.default_window if window is None else window, overlap)
        self.runtime = resolve_runtime(RuntimeOptions(device, precision, compile))
        resolved = None
        if state is not None:
            folder = tokenizer_folder(None, options.tokenizer, model_spec(options.model).tokenizer, cache_dir)
            resolved = ResolvedWeights(options.model, state, tokenizer=folder)
        self.model, self.tokenizer = build_referrer(options, self.runtime, resolved)

    @property
    def name(self) -> str:
        return self.model.name

    def segment(
        self,
        video: Video,
        texts: str | list[str],
        *,
        fps: float | None = None,
        start=None,
        end=None,
        max_seconds: float = 0,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (frame index, masks [Q, H, W] bool) for every frame, in order, window by window.

        texts: the queries, a list of non-empty strings (one string is one query).
        video: a video file or frames folder (all of it unless start / end / max_seconds say), or
        RGB uint8 frames [T, H, W, 3]. Masks are at the frames' own size, query q in masks[q].
        """
        texts = query_texts(texts)  # here, not at the first frame: a string is one query, bad values an InputError
        return self._segment(video, texts, fps, start, end, max_seconds)

    def _segment(
        self, video: Video, texts: list[str], fps, start, end, max_seconds
    ) -> Iterator[tuple[int, np.ndarray]]:
        source = video_source(video, fps, start, end, max_seconds)
        info = source.info
        ids, mask, _ = self.tokenizer.encode([self.model.prepare_text(t) for t in texts])
        size = self.model.input_size(info.height, info.width)
        spans = self.windows.spans(info.num_frames)
        timings = Timings(self.runtime.clock_device)
        with torch.inference_mode():
            for part in segment_windows(self.model, ids, mask, source, spans, size, self.runtime, timings):
                for offset in range(part.final - part.window.start):
                    yield part.window.start + offset, part.masks[:, offset].astype(bool)
