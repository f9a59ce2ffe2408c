"""`rvos refer`: MTTR over a streamed video in overlapping windows.

Per window the backbone runs once and all text queries go through the multimodal transformer as
one batch. A reader thread decodes and resizes the next window and a writer thread encodes the
previous one while the model runs, so only about two windows of frames are ever in memory.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.models.mttr import MTTR, load_mttr, select_referred
from rvos_cli.models.mttr.preprocess import frames_to_tensor, normalize_text, resized_size
from rvos_cli.models.mttr.tokenizer import TextTokenizer
from rvos_cli.pipelines.device import autocast, resolve_device, resolve_precision
from rvos_cli.pipelines.timing import Timings

DEFAULT_WEIGHTS = "mttr-ytvos"
TOKENIZER_WEIGHTS = "roberta-base"  # tokenizer files alone, for a checkpoint fetched by hand
COLOR_NAMES = ("blue", "red", "green", "yellow", "purple", "cyan", "orange", "pink")


@dataclass
class ReferRequest:
    """Everything `rvos refer` was asked to do (paths unchecked)."""

    input: Path
    texts: list[str]
    output: Path | None = None
    masks_dir: Path | None = None
    weights: str = DEFAULT_WEIGHTS
    checkpoint: Path | None = None
    tokenizer: Path | None = None
    size: int = 360
    max_size: int = 640
    window: int = 24
    overlap: int = 6
    device: str = "auto"
    precision: str = "auto"
    fps: float | None = None
    start: str | None = None
    end: str | None = None
    max_seconds: float = 10.0
    legend: bool = False


@dataclass
class Window:
    """Frames [start, end) of the clip: the original RGB frames and the model input [T, 3, h, w]."""

    start: int
    end: int
    frames: list[np.ndarray]
    video: torch.Tensor


@dataclass
class WindowResult:
    """Per text query: selection score, selected object query, and mask area (fraction of pixels)."""

    start: int
    end: int
    scores: list[float]
    selected: list[int]
    mask_fraction: list[float]


def window_spans(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Windows start every `window - overlap` frames; the last may be shorter.

    A window that would lie inside the previous one (the clip already ended) is not run.
    """
    if window < 1:
        raise InputError(f"--window {window} must be at least 1")
    if not 0 <= overlap < window:
        raise InputError(f"--overlap {overlap} must be at least 0 and less than --window {window}")
    spans = []
    for start in range(0, num_frames, window - overlap):
        spans.append((start, min(start + window, num_frames)))
        if start + window >= num_frames:
            break
    return spans


def load_refer_model(request: ReferRequest) -> tuple[MTTR, TextTokenizer]:
    """The checkpoint (`--checkpoint` wins over `--weights`) and the tokenizer files of the weights entry."""
    from rvos_cli import weights

    checkpoint = request.checkpoint or weights.locate_checkpoint(request.weights)
    tokenizer = TextTokenizer(request.tokenizer or _tokenizer_dir(request))  # before the slow model load
    return load_mttr(checkpoint), tokenizer


def _tokenizer_dir(request: ReferRequest) -> Path:
    """The weights entry's tokenizer files; with --checkpoint, the small roberta-base entry does as well."""
    from rvos_cli import weights

    try:
        return weights.locate_entry_dir(request.weights)
    except MissingWeightsError:
        if request.checkpoint is None:
            raise
        try:
            return weights.locate_entry_dir(TOKENIZER_WEIGHTS)
        except MissingWeightsError:
            raise MissingWeightsError(
                f"--checkpoint needs RoBERTa's tokenizer files: pass --tokenizer DIR (with vocab.json and merges.txt) "
                f"or run `rvos download {TOKENIZER_WEIGHTS}`") from None


def infer_window(model: MTTR, video: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 device: torch.device, precision: str) -> dict:
    """One window, video [T, 3, h, w], through the backbone once and all Q queries as one batch."""
    with torch.inference_mode(), autocast(device, precision):
        video = video.to(device, non_blocking=True).unsqueeze(1)
        features = model.encode_video(video)
        return model.decode(features, input_ids.to(device), attention_mask.to(device))


def segment_window(model: MTTR, video: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   original_size: tuple[int, int], device: torch.device, precision: str, timings: Timings):
    """One window: video [T, 3, h, w] and Q queries -> masks [Q, T, H0, W0] uint8, scores [Q, 50], selected [Q]."""
    with timings("model"):
        out = infer_window(model, video, input_ids, attention_mask, device, precision)
    with timings("postprocess"), torch.inference_mode():
        masks, scores, selected = select_referred(out, input_size=tuple(video.shape[-2:]), original_size=original_size)
        return masks.cpu().numpy(), scores.float().cpu(), selected.cpu()


def read_windows(frames: Iterable[tuple[int, np.ndarray]], spans: list[tuple[int, int]],
                 size: tuple[int, int], timings: Timings | None = None) -> Iterator[Window]:
    """Group streamed frames into the (overlapping) windows, holding only the frames still needed."""
    timings = timings or Timings()
    frames = timings.timed_iter("decode", frames)
    held: dict[int, np.ndarray] = {}
    read = 0
    for k, (start, end) in enumerate(spans):
        while read < end:
            try:
                index, frame = next(frames)
            except StopIteration:
                raise InputError(f"the video ended after {read} frames although {spans[-1][1]} were announced; "
                                 "re-encode it (e.g. with ffmpeg) or pass --end") from None
            held[index] = frame
            read = index + 1
        chunk = [held[i] for i in range(start, end)]
        with timings("preprocess"):
            video = frames_to_tensor(chunk, size)
        yield Window(start, end, chunk, video)
        keep_from = spans[k + 1][0] if k + 1 < len(spans) else end
        held = {i: f for i, f in held.items() if i >= keep_from}


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate `items` in a background thread, at most `depth` ahead; its errors surface here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as error:  # handed to the consumer
            offer((done, error))

    thread = threading.Thread(target=produce, daemon=True, name="rvos-decode")
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()


def run_refer(request: ReferRequest, reporter) -> dict:
    """Segment every query in the clip, write the requested outputs, return the JSON summary."""
    from rvos_cli.video import BinaryMaskWriter, OverlayVideoWriter, open_video, overlay_masks
    from rvos_cli.video.outputs import check_output, check_replaceable_dir

    texts = [normalize_text(t) for t in request.texts]
    if not texts or not all(texts):
        raise InputError("give at least one non-empty text query with -t/--text")
    if request.size < 32 or request.max_size < request.size:
        raise InputError(f"--size {request.size} must be at least 32 and at most --max-size {request.max_size}")
    window_spans(1, request.window, request.overlap)  # validates --window/--overlap before any work
    output = request.output or Path.cwd() / f"{Path(request.input).stem}.refer.mp4"
    output = check_output(output, [request.input], "--output")
    masks_dir = None
    if request.masks_dir is not None:
        masks_dir = check_output(request.masks_dir, [request.input, output], "--masks")
        check_replaceable_dir(masks_dir, "--masks")
    device = resolve_device(request.device)
    precision = resolve_precision(request.precision, device)
    timings = Timings(device)

    with timings("open"):
        source = open_video(request.input, fps=request.fps, start=request.start, end=request.end,
                            max_seconds=request.max_seconds, reporter=reporter)
    info = source.info
    with timings("load"):
        model, tokenizer = load_refer_model(request)
        model.to(device)
        input_ids, attention_mask = tokenizer(texts)
    size = resized_size(info.height, info.width, request.size, request.max_size)
    spans = window_spans(info.num_frames, request.window, request.overlap)
    reporter.note(f"{info.num_frames} frames at {size[1]}x{size[0]}, {len(spans)} window(s), "
                  f"{len(texts)} quer{'y' if len(texts) == 1 else 'ies'} on {device.type} ({precision})")

    results: list[WindowResult] = []
    legend = texts if request.legend else None
    began = time.perf_counter()
    with reporter.progress("refer", info.num_frames) as advance, contextlib.ExitStack() as outputs, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvos-encode") as encoder:
        video_out = outputs.enter_context(OverlayVideoWriter(output, info))
        masks_out = None
        if masks_dir:
            masks_out = outputs.enter_context(BinaryMaskWriter(masks_dir, info.names, queries=len(texts)))

        def write(window: Window, masks: np.ndarray, upto: int) -> None:
            # Only frames no later window covers are final; the overlap waits for the next window.
            for offset in range(upto - window.start):
                frame_masks = masks[:, offset]
                with timings("overlay"):
                    video_out.write(overlay_masks(window.frames[offset], frame_masks, legend=legend))
                if masks_out is not None:
                    with timings("write"):
                        masks_out.write(window.start + offset, frame_masks)
            advance(upto - window.start)

        pending: Future | None = None
        for k, window in enumerate(prefetch(read_windows(source, spans, size, timings))):
            masks, scores, selected = segment_window(model, window.video, input_ids, attention_mask,
                                                     (info.height, info.width), device, precision, timings)
            picked = scores.gather(1, selected[:, None])[:, 0]
            fraction = masks.reshape(len(texts), -1).mean(axis=1)
            results.append(WindowResult(window.start, window.end, picked.tolist(), selected.tolist(), fraction.tolist()))
            if pending is not None:
                pending.result()
            upto = spans[k + 1][0] if k + 1 < len(spans) else window.end
            pending = encoder.submit(write, window, masks, upto)
        if pending is not None:
            pending.result()
        with timings("finish"):
            outputs.close()
    seconds = time.perf_counter() - began
    return summarize(request, texts, info, output, masks_dir, size, spans, results, device, precision, seconds, timings)


def summarize(request, texts, info, output, masks_dir, size, spans, results, device, precision, seconds, timings) -> dict:
    queries = []
    for q, text in enumerate(texts):
        queries.append({
            "index": q,
            "text": text,
            "color": COLOR_NAMES[q] if q < len(COLOR_NAMES) else "other",
            "windows": [
                {"start": r.start, "end": r.end, "score": round(r.scores[q], 6), "object_query": r.selected[q],
                 "mask_fraction": round(r.mask_fraction[q], 6)}
                for r in results
            ],
        })
    return {
        "command": "refer",
        "input": os.fspath(request.input),
        "output": os.fspath(output),
        "masks": os.fspath(masks_dir) if masks_dir else None,
        "frames": info.num_frames,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "model_input": {"height": size[0], "width": size[1]},
        "window": request.window,
        "overlap": request.overlap,
        "windows": len(spans),
        "device": device.type,
        "precision": precision,
        "queries": queries,
        "seconds": round(seconds, 3),
        "timings": timings.rounded(),
        "frames_per_second": round(info.num_frames / seconds, 3) if seconds > 0 else None,
    }
