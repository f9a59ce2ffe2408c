"""`rvos bench`: speed and memory of a model alone and of the whole command, on a generated clip.

Installed weights are used when present, random weights in the official layout otherwise (speed
does not depend on the values). Every figure is the median and min-max over `repeat` runs that
follow `warmup` runs; GPU work is synchronised before a clock is read. The model is built once
through the same builders as `refer` and `propagate`, and the end-to-end runs reuse it.
"""

from __future__ import annotations

import dataclasses
import platform
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.models.referring import Referrer
from rvos_cli.pipelines.build import build_propagator, build_referrer, propagate_weights, random_weights, refer_weights
from rvos_cli.pipelines.device import Runtime, device_name, resolve_runtime, sync
from rvos_cli.pipelines.options import (
    MAX_MODEL_SIZE,
    ClipOptions,
    PropagateOptions,
    ReferModelOptions,
    RuntimeOptions,
    WindowOptions,
    propagate_options,
    refer_options,
)
from rvos_cli.pipelines.propagate import PropagateRequest, run_propagate
from rvos_cli.pipelines.refer import ReferRequest, query_batches, run_refer
from rvos_cli.pipelines.stats import summarize
from rvos_cli.ui import Reporter
from rvos_cli.video.images import MAX_PIXELS, MAX_SIDE
from rvos_cli.weights.resolve import ResolvedWeights, installed_weights

TASKS = ("refer", "propagate")
DEFAULT_CLIP = (720, 1280)  # users' videos are this size or larger
NULL_MODEL = "none"
BENCH_TEXTS = (
    "a person riding a bike",
    "a black bike used to perform tricks",
    "a dog running on the grass",
    "a red car parked on the street",
)


@dataclass(frozen=True)
class BenchRequest:
    """What to measure. model: typed options of the model (refer or propagate). size: (height, width)
    of a generated clip the model works on at that very size (`--size`); clip_size: (height, width)
    of a generated clip that goes through the command's normal resize (`--clip-size`, default
    1280x720 when neither is given)."""

    task: str
    model: ReferModelOptions | PropagateOptions
    runtime: RuntimeOptions = RuntimeOptions()
    frames: int = 24
    size: tuple[int, int] | None = None
    clip_size: tuple[int, int] | None = None
    window: int = 24
    queries: int = 2
    video: Path | None = None
    repeat: int = 3
    warmup: int = 1
    threads: int | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"unknown bench task {self.task!r}; use refer or propagate")
        if self.frames < 2 or self.repeat < 1 or self.warmup < 0 or self.queries < 1 or self.window < 1:
            raise InputError(
                "--frames must be at least 2, --repeat, --queries and --window at least 1, --warmup at least 0"
            )
        if self.size is not None and self.clip_size is not None:
            raise InputError(
                "--size and --clip-size cannot be used together: --size HxW generates the clip at the "
                "model's input size, --clip-size HxW generates it at HxW and resizes it as the command does"
            )
        if self.threads is not None and self.threads < 1:
            raise InputError("--threads must be at least 1")
        if self.video is not None and self.task == "propagate":
            raise InputError(
                "--video cannot be used with `bench propagate` (it needs a first-frame mask); "
                "omit it to bench on a generated clip"
            )


@dataclass
class BenchSummary:
    task: str
    model: str
    weights: str
    parameters: int
    frames: int
    settings: dict[str, Any]
    model_fps: dict[str, float]
    end_to_end_fps: dict[str, float]
    stage_seconds: dict[str, dict[str, float]]
    memory: dict[str, float | None]
    system: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"command": "bench", **{k: getattr(self, k) for k in self.__dataclass_fields__}}

    def human(self):
        return bench_table(self.to_json())


def bench_options(
    task: str,
    model: str | None,
    weights: str | None,
    backbone: str | None,
    device: str,
    precision: str,
    cache_dir: Path | None = None,
    compile: bool = False,
) -> tuple[RuntimeOptions, ReferModelOptions | PropagateOptions]:
    """The runtime and the model options of `rvos bench TASK` (`cache_dir`: the weights cache)."""
    runtime = RuntimeOptions(device, precision, compile)
    if model == NULL_MODEL and task in TASKS:
        flags = (("--weights", weights), ("--backbone", backbone), ("--compile", compile or None))
        given = [flag for flag, value in flags if value is not None]
        if given:
            raise InputError(f"{given[0]} cannot be used with --model none (a no-op model without weights)")
        return runtime, NullReferOptions() if task == "refer" else NullPropagateOptions()
    if task == "refer":
        return runtime, refer_options(model, weights, backbone=backbone, cache_dir=cache_dir)
    if task == "propagate":
        if backbone is not None:
            raise InputError("--backbone is for `bench refer`; propagation models have one architecture")
        installed = installed_weights("rdevos", cache_dir) if (model or "auto") == "auto" else []
        return runtime, propagate_options(
            model or "auto", weights, runtime=runtime, installed=installed, cache_dir=cache_dir
        )
    raise InputError(f"unknown bench task {task!r}; use refer or propagate")


def parse_size(text: str | None, flag: str = "--size") -> tuple[int, int] | None:
    """'360x640' (height x width) -> (360, 640)."""
    if text is None:
        return None
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{flag} {text!r} is not HxW, e.g. 720x1280") from None
    if height < 16 or width < 16:
        raise InputError(f"{flag} {text} is too small; use at least 16x16")
    limit = MAX_MODEL_SIZE if flag == "--size" else MAX_SIDE  # the model input, or a generated clip's frames
    if max(height, width) > limit or height * width > MAX_PIXELS:
        raise InputError(
            f"{flag} {text} is over {limit} pixels a side (or {MAX_PIXELS:,} in all): it cannot fit in memory"
        )
    return height, width


# --- the no-op models of `--model none` -------------------------------------------------------


@dataclass(frozen=True)
class NullReferOptions(ReferModelOptions):
    """`bench refer --model none`: MTTR's input size (short side 360, long side at most 640), no weights."""

    model: ClassVar[str] = NULL_MODEL


@dataclass(frozen=True)
class NullPropagateOptions:
    """`bench propagate --model none`: the model input RDE-VOS would use (short side 480), no weights."""

    model: ClassVar[str] = NULL_MODEL
    size: int = 480
    upscale: bool = False
    reason: str = field(default="", compare=False)


class NullReferrer(Referrer):
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

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(texts)[:2]


class NullPropagator:
    """A propagation model that does no work: every frame gets the first frame's labels."""

    name = NULL_MODEL

    def __init__(self):
        self.labels: np.ndarray | None = None

    def start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        self.labels = labels

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None) -> np.ndarray:
        return self.labels


def _ellipse(size: tuple[int, int], query: int) -> np.ndarray:
    """A filled ellipse over about a fifth of a (height, width) frame, shifted right with the query."""
    import cv2

    height, width = size
    mask = np.zeros(size, np.uint8)
    center = (int(width * (0.35 + 0.15 * (query % 3))), height // 2)
    cv2.ellipse(mask, center, (max(1, width // 5), max(1, height // 3)), 0, 0, 360, 1, -1)
    return mask


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    begin = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - begin


def repeated(fn: Callable[[], float], warmup: int, repeat: int) -> list[float]:
    for _ in range(warmup):
        fn()
    return [fn() for _ in range(repeat)]


def peak_memory(device: torch.device) -> dict[str, float | None]:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"peak_rss_mib": round(rss_kib / 1024, 1), "peak_gpu_allocated_mib": round(gpu, 1) if gpu else None}


def _or_random(resolve: Callable[[], ResolvedWeights], options, folder: Path) -> ResolvedWeights:
    """The installed weights, else random ones in the official layout (and a stand-in tokenizer)."""
    try:
        return resolve()
    except MissingWeightsError:
        if options.weights is not None:
            raise
    from rvos_cli.models.tokenizer import write_stand_in_tokenizer

    tokenizer = getattr(options, "tokenizer", None) or write_stand_in_tokenizer(folder / "tokenizer")
    return ResolvedWeights(
        options.model, random_weights(options.model, getattr(options, "backbone", None)), tokenizer=Path(tokenizer)
    )


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
        weights = _or_random(lambda: refer_weights(options), options, folder)
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
    frames = min(request.window, request.frames)
    video = torch.randn(frames, 3, height, width, device=runtime.device)
    texts = [BENCH_TEXTS[q % len(BENCH_TEXTS)] for q in range(request.queries)]
    ids, mask = (t.to(runtime.device) for t in tokenizer(texts))

    def forward() -> float:
        def run():
            with torch.inference_mode(), runtime.autocast():
                features = model.encode(video)
                for queries in query_batches(model, ids.shape[0], video.shape[0]):
                    model.decode(features, ids[queries], mask[queries])

        return timed(run, runtime.device)

    if runtime.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    model_seconds = repeated(forward, request.warmup, request.repeat)
    # Overlap as the CLI's default (6 of 24) so the figures include the frames windows recompute.
    windows = WindowOptions(request.window, min(6, request.window // 4))

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
    parameters = sum(p.numel() for p in model.network.parameters())
    settings = {
        "queries": request.queries,
        "window": request.window,
        **_sizes(clip_hw, (height, width)),
    }
    return _summary(
        request,
        options.model,
        source,
        parameters,
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
    if request.size is not None:  # the model works on the generated clip at its own size
        options = dataclasses.replace(options, size=0)
    clip, mask = _clip(request, folder)
    if options.model == NULL_MODEL:
        weights = None
        propagator, settings = NullPropagator(), {"size": options.size, **runtime.describe()}
    else:
        weights = None if options.model == "flow" else _or_random(lambda: propagate_weights(options), options, folder)
        propagator, settings = build_propagator(options, runtime, weights)
    frames = [frame for _, frame in open_video(clip, max_seconds=0)]
    labels = read_label_png(mask)
    network = getattr(propagator, "net", None)
    parameters = sum(p.numel() for p in network.parameters()) if network is not None else 0

    def steps() -> float:
        def run():
            propagator.start(frames[0], labels)
            for frame in frames[1:]:
                propagator.step(frame)

        return timed(run, runtime.device)

    if runtime.device.type == "cuda":
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
    source = weights.name if weights else f"none ({'no-op model' if options.model == NULL_MODEL else 'optical flow'})"
    return _summary(
        request,
        options.model,
        source,
        parameters,
        len(frames),
        model_seconds,
        summaries,
        e2e_seconds,
        runtime,
        _sizes(frames[0].shape[:2], _propagate_input(options, *frames[0].shape[:2])),
    )


def _propagate_input(options, height: int, width: int) -> tuple[int, int]:
    """The size a propagation model works at: rdevos (and `none`, which mirrors it) as
    `processing_size`, flow with its short side at `size` (0: native, never upscaled)."""
    from rvos_cli.models.rdevos.preprocess import processing_size

    return processing_size(height, width, options.size, getattr(options, "upscale", False))


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
        model_fps=summarize(model_frames / s for s in model_seconds),
        end_to_end_fps=summarize(frames / s for s in e2e_seconds),
        stage_seconds=stages,
        memory=peak_memory(runtime.device),
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


def run_bench(request: BenchRequest, reporter: Reporter) -> BenchSummary:
    """Measure one task."""
    if request.threads is not None:
        torch.set_num_threads(request.threads)
    runtime = resolve_runtime(request.runtime)
    bench = _bench_refer if request.task == "refer" else _bench_propagate
    with tempfile.TemporaryDirectory(prefix="rvos-bench-") as folder:
        with reporter.progress(f"bench {request.task}", None):
            return bench(request, runtime, Path(folder))


def bench_table(summary: dict):
    """The summary as a rich table for the terminal."""
    from rich.table import Table

    def span(stats: dict, digits: int = 2) -> str:
        return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"

    system = summary["system"]
    table = Table(
        title=f"rvos bench {summary['task']}: {summary['model']} on {system['device_name']} "
        f"({system['device']}, {system['precision']}, {system['threads']} threads)"
    )
    table.add_column("measure")
    table.add_column("median (min-max)", justify="right")
    table.add_row("model alone, frames/s", span(summary["model_fps"]))
    table.add_row("end to end, frames/s", span(summary["end_to_end_fps"]))
    for stage, stats in summary["stage_seconds"].items():
        table.add_row(f"  {stage}, s", span(stats, 3))
    memory = summary["memory"]
    table.add_row("peak RSS, MiB", f"{memory['peak_rss_mib']:.0f}")
    if memory["peak_gpu_allocated_mib"] is not None:
        table.add_row("peak GPU allocated, MiB", f"{memory['peak_gpu_allocated_mib']:.0f}")
    table.add_row("parameters", f"{summary['parameters']:,}")
    table.add_row("weights", summary["weights"])
    settings = ", ".join(
        f"{key} {'x'.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in summary["settings"].items()
    )
    table.add_row("frames, settings", f"{summary['frames']}, {settings}")
    table.add_row("torch", system["torch"])
    return table
