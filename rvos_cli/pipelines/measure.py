"""`rvos bench`'s measurements: the model alone and the whole command, timed on a generated clip."""

from __future__ import annotations

import dataclasses
import platform
import resource
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.models.referring import WindowedReferrer
from rvos_cli.models.registry import MODELS, model_spec
from rvos_cli.pipelines.bench import BENCH_TEXTS, DEFAULT_CLIP, NULL_MODEL, BenchRequest, BenchSummary
from rvos_cli.pipelines.build import build_propagator, build_referrer, model_weights, random_weights
from rvos_cli.pipelines.device import Runtime, device_name, resolve_runtime, sync
from rvos_cli.pipelines.options import ClipOptions, WindowOptions
from rvos_cli.pipelines.propagate import PropagateRequest, run_propagate
from rvos_cli.pipelines.propagation import propagate_frames
from rvos_cli.pipelines.refer import ReferRequest, forward_window, run_refer
from rvos_cli.pipelines.stats import summarize
from rvos_cli.pipelines.timing import Timings
from rvos_cli.ui import Reporter
from rvos_cli.weights.resolve import ResolvedWeights


def measure(request: BenchRequest, reporter: Reporter) -> BenchSummary:
    """Measure one task: the model alone, then the whole command, on a generated clip."""
    if request.threads is not None:
        torch.set_num_threads(request.threads)
    spec = MODELS.get(request.model.model)
    runtime = resolve_runtime(request.runtime, torch=spec is None or spec.torch)
    bench = _bench_refer if request.task == "refer" else _bench_propagate
    with tempfile.TemporaryDirectory(prefix="rvos-bench-") as folder:
        with reporter.progress(f"bench {request.task}", None):
            return bench(request, runtime, Path(folder))


# --- the no-op models of `--model none` -------------------------------------------------------


class NullReferrer(WindowedReferrer):
    """A referring model that does no work: the real decode and resize to the model input, then a
    fixed mask per query (a centred ellipse, query q shifted right) at the frames' size, score 0 and
    object query 0. What `rvos refer` spends around it is the command's own cost."""

    name = NULL_MODEL

    def __init__(self, size: int = 360, max_size: int | None = 640):
        super().__init__(torch.nn.Identity(), size, max_size)
        self._masks: dict[tuple[int, int, int, int], torch.Tensor] = {}

    def encode(self, video: torch.Tensor) -> Any:
        return video.shape[0]

    def decode(self, features: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return {"frames": features, "queries": input_ids.shape[0]}

    def select(self, out: dict, input_size: tuple[int, int], original_size: tuple[int, int]):
        # Made once per shape, contiguous like a real model's output (a broadcast view would make the
        # pipeline's own pass over the masks look several times dearer than it is).
        queries, frames = out["queries"], out["frames"]
        masks = self._masks.get((queries, frames, *original_size))
        if masks is None:
            ellipses = torch.from_numpy(np.stack([_ellipse(original_size, q) for q in range(queries)]))
            masks = ellipses[:, None].expand(queries, frames, *original_size).contiguous()
            self._masks[(queries, frames, *original_size)] = masks
        return masks, torch.zeros(queries, 1), torch.zeros(queries, dtype=torch.long)


class NullTokenizer:
    """Token ids of the right shape ([Q, 12], all attended) for the null referrer; it cuts nothing."""

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        return torch.zeros(len(texts), 12, dtype=torch.long), torch.ones(len(texts), 12, dtype=torch.long), []


class NullPropagator:
    """A propagation model that does no work: every frame gets the first frame's labels."""

    name = NULL_MODEL

    def __init__(self, size: int = 480):
        self.size = size
        self.labels: np.ndarray | None = None

    def start(self, frame: np.ndarray, labels: np.ndarray, prompts=(), num_frames=None) -> None:
        self.labels = labels

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None, prompts=()) -> np.ndarray:
        return self.labels

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        from rvos_cli.models.rdevos.preprocess import processing_size

        return processing_size(height, width, self.size, False)

    def settings(self) -> dict[str, Any]:
        return {"size": self.size}


def _ellipse(size: tuple[int, int], query: int) -> np.ndarray:
    """A filled ellipse over about a fifth of a (height, width) frame, shifted right with the query."""
    import cv2

    height, width = size
    mask = np.zeros(size, np.uint8)
    center = (int(width * (0.35 + 0.15 * (query % 3))), height // 2)
    cv2.ellipse(mask, center, (max(1, width // 5), max(1, height // 3)), 0, 0, 360, 1, -1)
    return mask


def timed(fn: Callable[[], Any], device=None) -> float:
    """Seconds `fn` takes, with the GPU work it queued on `device` (None: the CPU)."""
    if device is not None:
        sync(device)
    begin = time.perf_counter()
    fn()
    if device is not None:
        sync(device)
    return time.perf_counter() - begin


def repeated(fn: Callable[[], float], warmup: int, repeat: int) -> list[float]:
    for _ in range(warmup):
        fn()
    return [fn() for _ in range(repeat)]


def peak_memory(runtime: Runtime) -> dict[str, float | None]:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gpu = torch.cuda.max_memory_allocated(runtime.device) / 2**20 if runtime.device_type == "cuda" else None
    return {"peak_rss_mib": round(rss_kib / 1024, 1), "peak_gpu_allocated_mib": round(gpu, 1) if gpu else None}


def _or_random(options, folder: Path, backbone: str | None) -> ResolvedWeights:
    """The installed weights (unless --backbone asks for another variant), else random ones."""
    if backbone is None:
        try:
            return model_weights(options)
        except MissingWeightsError:
            if options.weights is not None or options.checkpoint is not None:
                raise
    elif options.weights is not None or getattr(options, "checkpoint", None) is not None:
        raise InputError("--backbone picks the variant of random weights; drop --weights to use it")
    return random_weights(options, folder, backbone)


def clip_size(request: BenchRequest) -> tuple[int, int]:
    """(height, width) of the generated clip."""
    return request.size or request.clip_size or DEFAULT_CLIP


def _clip(request: BenchRequest, folder: Path) -> tuple[Path, Path | None]:
    """The input video (and, for propagate, its first-frame mask)."""
    if request.video is not None:
        return request.video, None
    from rvos_cli.video.synthetic import write_sample

    height, width = clip_size(request)
    clip = folder / "bench.mp4"
    mask = write_sample(clip, seconds=request.frames / 24.0, fps=24.0, width=width, height=height, audio=False)
    return clip, mask


def _end_to_end(run: Callable[[], Any], request: BenchRequest) -> tuple[list[Any], list[float]]:
    """Run the real command `warmup + repeat` times; returns the kept summaries and wall times less loading."""
    summaries, seconds = [], []
    for index in range(request.warmup + request.repeat):
        begin = time.perf_counter()
        summary = run()
        wall = time.perf_counter() - begin - summary.timings.get("load", 0.0)
        if index >= request.warmup:
            summaries.append(summary)
            seconds.append(wall)
    return summaries, seconds


def _bench_refer(request: BenchRequest, runtime: Runtime, folder: Path) -> BenchSummary:
    options = request.model
    if request.size is not None:  # the model input is the generated clip's own size
        height, width = request.size
        options = dataclasses.replace(options, size=min(height, width), max_size=max(height, width))
    if options.model == NULL_MODEL:
        source = "none (no-op model)"
        model, tokenizer = NullReferrer(*options.input_bounds()), NullTokenizer()
    else:
        weights = _or_random(options, folder, request.backbone)
        source = weights.name
        model, tokenizer = build_referrer(options, runtime, weights)
    clip, _ = _clip(request, folder)
    if request.video is not None:
        from rvos_cli.video import open_video

        info = open_video(clip, max_seconds=0).info
        clip_hw = (info.height, info.width)
    else:
        clip_hw = clip_size(request)
    height, width = model.input_size(*clip_hw)
    window = request.frames_per_window
    frames = min(window, request.frames)
    video = torch.randn(frames, 3, height, width, device=runtime.device)
    texts = [BENCH_TEXTS[q % len(BENCH_TEXTS)] for q in range(request.queries)]
    ids, mask, _ = (t.to(runtime.device) if isinstance(t, torch.Tensor) else t for t in tokenizer.encode(texts))

    def forward() -> float:
        return timed(lambda: deque(forward_window(model, video, ids, mask, runtime), 0), runtime.clock_device)

    if runtime.device_type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    model_seconds = repeated(forward, request.warmup, request.repeat)
    # Overlap as the CLI's default (6 of 24) so the figures include the frames windows recompute.
    windows = WindowOptions(window, min(6, window // 4))

    def run():
        return run_refer(
            ReferRequest(
                clip,
                texts,
                options,
                runtime=request.runtime,
                clip=ClipOptions(max_seconds=0),
                windows=windows,
                output=folder / "refer.mp4",
            ),
            Reporter(quiet=True),
            built=(model, tokenizer),
        )

    summaries, e2e_seconds = _end_to_end(run, request)
    settings = {"queries": request.queries, "window": window, **_sizes(clip_hw, (height, width))}
    return _summary(
        request,
        options.model,
        source,
        _parameters(model),
        frames,
        model_seconds,
        summaries,
        e2e_seconds,
        runtime,
        settings,
    )


def _bench_propagate(request: BenchRequest, runtime: Runtime, folder: Path) -> BenchSummary:
    from rvos_cli.video import open_video, read_label_png

    options = request.model
    if request.size is not None and "size" in {f.name for f in dataclasses.fields(options)}:
        options = dataclasses.replace(options, size=0)  # the model works on the generated clip at its own size
    clip, mask = _clip(request, folder)
    weights = None
    if options.model == NULL_MODEL:
        propagator = NullPropagator(options.size)
        settings = {**propagator.settings(), **runtime.describe()}
        source = "none (no-op model)"
    else:
        if model_spec(options.model).weights != "none":
            weights = _or_random(options, folder, request.backbone)
        propagator, settings = build_propagator(options, runtime, weights)
        source = weights.name if weights else f"none ({model_spec(options.model).summary})"
    info = open_video(clip, max_seconds=0).info
    labels = read_label_png(mask)

    def steps() -> float:
        # Frames stream in as the command's do (memory stays that of the model's own state); only the
        # model's calls are timed.
        timings = Timings(runtime.clock_device)
        source = open_video(clip, max_seconds=0)
        deque(propagate_frames(propagator, source, labels, runtime, timings=timings, num_frames=info.num_frames), 0)
        return timings.seconds["model"]

    if runtime.device_type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    model_seconds = repeated(steps, request.warmup, request.repeat)

    def run():
        return run_propagate(
            PropagateRequest(
                clip,
                mask,
                options,
                runtime=request.runtime,
                clip=ClipOptions(max_seconds=0),
                output=folder / "masks",
                video=folder / "overlay.mp4",
            ),
            Reporter(quiet=True),
            built=(propagator, settings),
        )

    summaries, e2e_seconds = _end_to_end(run, request)
    height, width = info.height, info.width
    return _summary(
        request,
        options.model,
        source,
        _parameters(propagator),
        info.num_frames,
        model_seconds,
        summaries,
        e2e_seconds,
        runtime,
        _sizes((height, width), propagator.working_size(height, width)),
    )


def _parameters(adapter) -> int:
    network = getattr(adapter, "network", None)
    return sum(p.numel() for p in network.parameters()) if isinstance(network, torch.nn.Module) else 0


def _sizes(clip: tuple[int, int], model_input: tuple[int, int]) -> dict[str, list[int]]:
    """`settings` sizes: the clip, the model input, and `input` (the model input, as before)."""
    return {"clip_size": list(clip), "model_input": list(model_input), "input": list(model_input)}


def _summary(
    request, model, source, parameters, model_frames, model_seconds, summaries, e2e_seconds, runtime, settings
) -> BenchSummary:
    frames = summaries[0].frames
    stages = {stage: summarize(s.timings[stage] for s in summaries) for stage in summaries[0].timings}
    return BenchSummary(
        task=request.task,
        model=model,
        weights=source,
        parameters=parameters,
        frames=frames,
        settings=settings,
        model_fps=None if model == NULL_MODEL else summarize(model_frames / s for s in model_seconds),
        end_to_end_fps=summarize(frames / s for s in e2e_seconds),
        stage_seconds=stages,
        memory=peak_memory(runtime),
        system={
            **runtime.describe(),
            "device_name": device_name(runtime.device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "repeat": request.repeat,
            "warmup": request.warmup,
        },
    )
