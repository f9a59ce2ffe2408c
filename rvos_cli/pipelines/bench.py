"""`rvos bench`: speed and memory of a model alone and of the whole command, on a generated clip.

Installed weights are used when present, random weights in the official layout otherwise (speed
does not depend on the values). Every figure is the median and min-max over `repeat` runs that
follow `warmup` runs; GPU work is synchronised before a clock is read.
"""

from __future__ import annotations

import json
import platform
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.pipelines.device import autocast, device_name, resolve_device, resolve_precision, sync
from rvos_cli.pipelines.stats import summarize
from rvos_cli.ui import Reporter

TASKS = ("refer", "propagate")
DEFAULT_SIZES = {"refer": (360, 640), "propagate": (480, 854)}
BENCH_TEXTS = ("a person riding a bike", "a black bike used to perform tricks", "a dog running on the grass",
               "a red car parked on the street")


@dataclass
class BenchRequest:
    task: str
    model: str = "auto"
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    frames: int = 24
    size: tuple[int, int] | None = None  # (height, width) of the generated clip
    window: int = 24
    queries: int = 2
    video: Path | None = None
    repeat: int = 3
    warmup: int = 1
    threads: int | None = None


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'360x640' (height x width) -> (360, 640)."""
    if text is None:
        return None
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {text!r} is not HxW, e.g. 360x640") from None
    if height < 16 or width < 16:
        raise InputError(f"--size {text} is too small; use at least 16x16")
    return height, width


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


def _weights(model: str, name: str | None) -> tuple[Any, str]:
    """(checkpoint path or random official-layout state dict, description)."""
    from rvos_cli import weights

    candidates = [name] if name else [n for n, e in weights.load_registry().items() if e.model == model]
    for candidate in candidates:
        try:
            return weights.locate_checkpoint(candidate), candidate
        except MissingWeightsError:
            if name:
                raise
    from rvos_cli.models.random_weights import random_state_dict
    from rvos_cli.models.registry import MODELS

    spec = MODELS[model]
    return random_state_dict(spec.layout(spec.variants[0])), "random (official layout)"


def _clip(request: BenchRequest, folder: Path) -> tuple[Path, Path | None]:
    """The input video (and, for propagate, its first-frame mask)."""
    if request.video is not None:
        if request.task == "propagate":
            raise InputError("--video cannot be used with `bench propagate` (it needs a first-frame mask); "
                             "omit it to bench on a generated clip")
        return request.video, None
    from rvos_cli.video.synthetic import write_sample

    height, width = request.size or DEFAULT_SIZES[request.task]
    clip = folder / "bench.mp4"
    mask = write_sample(clip, seconds=request.frames / 24.0, fps=24.0, width=width, height=height, audio=False)
    return clip, mask


def _end_to_end(run: Callable[[], dict], request: BenchRequest) -> tuple[list[dict], list[float]]:
    """Run the real command `warmup + repeat` times; returns the kept summaries and wall times less model loading."""
    summaries, seconds = [], []
    for index in range(request.warmup + request.repeat):
        begin = time.perf_counter()
        summary = run()
        wall = time.perf_counter() - begin - summary["timings"].get("load", 0.0)
        if index >= request.warmup:
            summaries.append(summary)
            seconds.append(wall)
    return summaries, seconds


def _bench_refer(request: BenchRequest, device, precision, folder: Path) -> dict:
    from rvos_cli.models.mttr import load_mttr
    from rvos_cli.pipelines.refer import ReferRequest, run_refer

    checkpoint, source = _weights("mttr", request.weights)
    model = load_mttr(checkpoint).to(device)
    height, width = request.size or DEFAULT_SIZES["refer"]
    frames = min(request.window, request.frames)
    video = torch.randn(frames, 1, 3, height, width, device=device)
    ids = torch.randint(3, 50000, (request.queries, 12), device=device)
    ids[:, 0], ids[:, -1] = 0, 2
    mask = torch.ones_like(ids)

    def forward() -> float:
        def run():
            with torch.inference_mode(), autocast(device, precision):
                model.decode(model.encode_video(video), ids, mask)
        return timed(run, device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model_seconds = repeated(forward, request.warmup, request.repeat)
    parameters = sum(p.numel() for p in model.parameters())

    clip, _ = _clip(request, folder)
    tokenizer = _tokenizer_dir(folder)

    # Overlap as the CLI's default (6 of 24) so the figures include the frames windows recompute.
    def run() -> dict:
        return run_refer(ReferRequest(
            input=clip, texts=[BENCH_TEXTS[q % len(BENCH_TEXTS)] for q in range(request.queries)],
            output=folder / "refer.mp4", checkpoint=checkpoint, tokenizer=tokenizer, size=min(height, width),
            max_size=max(height, width), window=request.window, overlap=min(6, request.window // 4),
            device=str(device), precision=precision,
            max_seconds=0), Reporter(quiet=True))

    summaries, e2e_seconds = _end_to_end(run, request)
    return _report(request, "mttr", source, parameters, frames, model_seconds, summaries, e2e_seconds, device,
                   precision, {"queries": request.queries, "window": request.window, "input": [height, width]})


def _tokenizer_dir(folder: Path) -> Path:
    """The installed RoBERTa tokenizer, or a small byte-level stand-in (tokenization time is negligible)."""
    from rvos_cli import weights

    try:
        return weights.locate_entry_dir("mttr-ytvos")
    except MissingWeightsError:
        pass
    target = folder / "tokenizer"
    target.mkdir(exist_ok=True)
    # Byte-level BPE shows printable ASCII as itself and a space as "Ġ": enough for the bench texts.
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "Ġ": 5}
    for code in range(33, 127):
        vocab[chr(code)] = len(vocab)
    (target / "vocab.json").write_text(json.dumps(vocab))
    (target / "merges.txt").write_text("#version: 0.2\n")
    return target


def _bench_propagate(request: BenchRequest, device, precision, folder: Path) -> dict:
    from rvos_cli.pipelines.propagate import PropagateRequest, build_propagator, resolve_model, run_propagate

    model = resolve_model(request.model, {"weights": request.weights})
    clip, mask = _clip(request, folder)
    # The clip is generated at the requested size, so models process it at native resolution.
    options: dict[str, Any] = {"device": str(device), "precision": precision, "size": 0}
    source, parameters = "none (optical flow)", 0
    if model == "rdevos":
        options["checkpoint"], source = _weights("rdevos", request.weights)
        if isinstance(options["checkpoint"], Path):
            options["weights"] = source
    from rvos_cli.video import open_video, read_label_png

    frames = [frame for _, frame in open_video(clip, max_seconds=0)]
    labels = read_label_png(mask)
    propagator = build_propagator(model, **options)
    if hasattr(propagator, "net"):
        parameters = sum(p.numel() for p in propagator.net.parameters())

    def steps() -> float:
        def run():
            propagator.start(frames[0], labels)
            for frame in frames[1:]:
                propagator.step(frame)
        return timed(run, device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model_seconds = repeated(steps, request.warmup, request.repeat)

    def run() -> dict:
        return run_propagate(PropagateRequest(input=clip, mask=mask, output=folder / "masks", video=folder / "overlay.mp4",
                                              model=model, options=options, max_seconds=0), Reporter(quiet=True))

    summaries, e2e_seconds = _end_to_end(run, request)
    return _report(request, model, source, parameters, len(frames), model_seconds, summaries, e2e_seconds,
                   device, precision, {"input": list(frames[0].shape[:2])})


def _report(request, model, source, parameters, model_frames, model_seconds, summaries, e2e_seconds, device,
            precision, settings) -> dict:
    frames = summaries[0]["frames"]
    stages = {stage: summarize(s["timings"][stage] for s in summaries) for stage in summaries[0]["timings"]}
    return {
        "command": "bench",
        "task": request.task,
        "model": model,
        "weights": source,
        "parameters": parameters,
        "frames": frames,
        "settings": settings,
        "model_fps": summarize(model_frames / s for s in model_seconds),
        "end_to_end_fps": summarize(frames / s for s in e2e_seconds),
        "stage_seconds": stages,
        "memory": peak_memory(device),
        "system": {
            "device": str(device),
            "device_name": device_name(device),
            "precision": precision,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "repeat": request.repeat,
            "warmup": request.warmup,
        },
    }


def run_bench(request: BenchRequest, reporter: Reporter) -> dict:
    """Measure one task; returns the JSON summary."""
    if request.task not in TASKS:
        raise InputError(f"unknown bench task {request.task!r}; use refer or propagate")
    if request.frames < 2 or request.repeat < 1 or request.warmup < 0 or request.queries < 1 or request.window < 1:
        raise InputError("--frames must be at least 2, --repeat, --queries and --window at least 1, --warmup at least 0")
    if request.threads is not None:
        if request.threads < 1:
            raise InputError("--threads must be at least 1")
        torch.set_num_threads(request.threads)
    device = resolve_device(request.device)
    precision = resolve_precision(request.precision, device)
    bench = _bench_refer if request.task == "refer" else _bench_propagate
    with tempfile.TemporaryDirectory(prefix="rvos-bench-") as folder:
        with reporter.progress(f"bench {request.task}", None):
            return bench(request, device, precision, Path(folder))


def bench_table(summary: dict):
    """The summary as a rich table for the terminal."""
    from rich.table import Table

    def span(stats: dict, digits: int = 2) -> str:
        return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"

    system = summary["system"]
    table = Table(title=f"rvos bench {summary['task']}: {summary['model']} on {system['device_name']} "
                        f"({system['device']}, {system['precision']}, {system['threads']} threads)")
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
    settings = ", ".join(f"{key} {'x'.join(map(str, value)) if isinstance(value, list) else value}"
                         for key, value in summary["settings"].items())
    table.add_row("frames, settings", f"{summary['frames']}, {settings}")
    table.add_row("torch", system["torch"])
    return table
