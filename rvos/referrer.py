"""`rvos.Referrer`: a referring model of the registry loaded once, masks streamed per frame."""

from __future__ import annotations

import os
from typing import Iterator, Mapping

import numpy as np
import torch

from rvos.source import Video, video_source
from rvos_cli.models.registry import model_spec
from rvos_cli.pipelines.build import build_propagator, build_referrer
from rvos_cli.pipelines.device import resolve_runtime
from rvos_cli.pipelines.options import RuntimeOptions, WindowOptions, refer_options, track_options
from rvos_cli.pipelines.propagation import model_call
from rvos_cli.pipelines.refer import query_texts, segment_windows
from rvos_cli.pipelines.timing import Timings
from rvos_cli.pipelines.track import find_seeds, frame_range, track_video
from rvos_cli.weights.resolve import ResolvedWeights, tokenizer_folder


class Referrer:
    """Segment what text queries describe, as `rvos refer` does.

    weights: a registry name (see `rvos models`); model: a referring model, e.g. mttr, referformer or
    soc (default: the model of `weights`, else the first of the registry, mttr); checkpoint: a file
    fetched by hand, or a state dict in the official layout; tokenizer: a folder with RoBERTa's
    vocab.json and merges.txt (default: the weights entry's, else roberta-base's). track: a tracker
    that carries each text's object through the whole video, seeded where the referring model is most
    confident, as `rvos refer --track` (sam2, sam3-tracker, or a weights name such as sam2.1-hiera-tiny;
    track_checkpoint: its model folder fetched by hand). The models and tokenizer are loaded once, here;
    missing weights raise MissingWeightsError, bad options InputError.
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
        track: str | None = None,
        track_checkpoint: str | os.PathLike | None = None,
    ):
        state = checkpoint if isinstance(checkpoint, Mapping) else None
        file = None if state is not None else checkpoint
        options = refer_options(
            model, weights, checkpoint=file, tokenizer=tokenizer, size=size, max_size=max_size, cache_dir=cache_dir
        )
        self.windows = WindowOptions(options.default_window if window is None else window, overlap)
        runtime = RuntimeOptions(device, precision, compile)
        tracker = track_options(track, runtime, checkpoint=track_checkpoint, cache_dir=cache_dir)
        self.runtime = resolve_runtime(runtime)
        resolved = None
        if state is not None:
            folder = tokenizer_folder(None, options.tokenizer, model_spec(options.model).tokenizer, cache_dir)
            resolved = ResolvedWeights(options.model, state, tokenizer=folder)
        self.model, self.tokenizer = build_referrer(options, self.runtime, resolved)
        self.tracker = None if tracker is None else build_propagator(tracker, self.runtime)[0]

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
        """Yield (frame index, masks [Q, H, W] bool) for every frame, in order, window by window (with a
        tracker: after the referring model has read the whole clip to choose each text's object).

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
        windows = segment_windows(self.model, ids, mask, source, spans, size, self.runtime, timings)
        if self.tracker is not None:
            yield from self._tracked(windows, len(texts), source, video, fps)
            return
        with torch.inference_mode():
            for part in windows:
                for offset in range(part.final - part.window.start):
                    yield part.window.start + offset, part.masks[:, offset].astype(bool)

    def _tracked(self, windows, queries: int, source, video: Video, fps) -> Iterator[tuple[int, np.ndarray]]:
        seeds, _ = find_seeds(windows, queries)
        reopen = (lambda s, e: video_source(video, fps, s, e, 0)) if isinstance(video, (str, os.PathLike)) else None
        calls = lambda: model_call(self.runtime)  # noqa: E731
        steps = track_video(self.tracker, seeds, source, lambda a, b: frame_range(source, a, b, reopen), calls)
        for index, _, masks in steps:
            yield index, masks
