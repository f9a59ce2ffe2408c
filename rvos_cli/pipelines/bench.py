"""`rvos bench`: speed and memory of a model alone and of the whole command, on a generated clip.

Installed weights are used when present, random weights in the official layout otherwise (speed
does not depend on the values). Every figure is the median and min-max over `repeat` runs that
follow `warmup` runs; GPU work is synchronised before a clock is read. The model is built once
through the same builders as `refer` and `propagate`, and the end-to-end runs reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rvos_cli.errors import InputError
from rvos_cli.models.options import MAX_MODEL_SIZE, ModelOptions, ReferModelOptions
from rvos_cli.models.registry import model_spec
from rvos_cli.pipelines.options import RuntimeOptions, propagate_options, refer_options
from rvos_cli.ui import Reporter
from rvos_cli.video.images import MAX_PIXELS, MAX_SIDE

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
    1280x720 when neither is given). window: frames per window of a referring model (None: the
    model's own). backbone: the variant of random weights (None: the model's first)."""

    task: str
    model: ModelOptions
    runtime: RuntimeOptions = RuntimeOptions()
    frames: int = 24
    size: tuple[int, int] | None = None
    clip_size: tuple[int, int] | None = None
    window: int | None = None
    queries: int = 2
    video: Path | None = None
    repeat: int = 3
    warmup: int = 1
    threads: int | None = None
    backbone: str | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"unknown bench task {self.task!r}; use refer or propagate")
        window = 1 if self.window is None else self.window
        if self.frames < 2 or self.repeat < 1 or self.warmup < 0 or self.queries < 1 or window < 1:
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
        if self.backbone is not None:
            if self.model.model == NULL_MODEL:
                raise InputError("--backbone cannot be used with --model none (a no-op model without weights)")
            model_spec(self.model.model).variant(self.backbone)  # an unknown backbone: exit 2 now

    @property
    def frames_per_window(self) -> int:
        return self.window or getattr(self.model, "default_window", 24)


@dataclass
class BenchSummary:
    task: str
    model: str
    weights: str
    parameters: int
    frames: int
    settings: dict[str, Any]
    model_fps: dict[str, float] | None  # None for the no-op model, whose model alone does nothing
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
    device: str,
    precision: str,
    cache_dir: Path | None = None,
    compile: bool = False,
    registry: Path | None = None,
    checkpoint: Path | None = None,
) -> tuple[RuntimeOptions, ModelOptions]:
    """The runtime and the model options of `rvos bench TASK` (`cache_dir`: the weights cache)."""
    runtime = RuntimeOptions(device, precision, compile)
    if task not in TASKS:
        raise InputError(f"unknown bench task {task!r}; use refer or propagate")
    if model == NULL_MODEL:
        flags = (("--weights", weights), ("--checkpoint", checkpoint), ("--compile", compile or None))
        given = [flag for flag, value in flags if value is not None]
        if given:
            raise InputError(f"{given[0]} cannot be used with --model none (a no-op model without weights)")
        return runtime, NullReferOptions() if task == "refer" else NullPropagateOptions()
    given = {"weights": weights, "checkpoint": checkpoint, "cache_dir": cache_dir, "registry": registry}
    if task == "refer":
        return runtime, refer_options(model, **given)
    return runtime, propagate_options(model or "auto", runtime, **given)


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
class NullPropagateOptions(ModelOptions):
    """`bench propagate --model none`: the model input RDE-VOS would use (short side 480), no weights."""

    model: ClassVar[str] = NULL_MODEL
    size: int = 480


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
    if summary["model_fps"] is not None:
        table.add_row("model alone, frames/s", span(summary["model_fps"]))
    table.add_row("end to end, frames/s", span(summary["end_to_end_fps"]))
    for stage, stats in summary["stage_seconds"].items():
        table.add_row(f"  {stage}, s", span(stats, 3))
    memory = summary["memory"]
    table.add_row("peak RSS, MiB", f"{memory['peak_rss_mib']:.0f}")
    if memory["peak_gpu_allocated_mib"] is not None:
        table.add_row("peak GPU allocated, MiB", f"{memory['peak_gpu_allocated_mib']:.0f}")
    if summary["parameters"]:
        table.add_row("parameters", f"{summary['parameters']:,}")
    table.add_row("weights", summary["weights"])
    settings = ", ".join(
        f"{key} {'x'.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in summary["settings"].items()
    )
    table.add_row("frames, settings", f"{summary['frames']}, {settings}")
    table.add_row("torch", system["torch"])
    return table


def run_bench(request: BenchRequest, reporter: Reporter) -> BenchSummary:
    """Measure one task (torch is imported here, once the options are good)."""
    from rvos_cli.pipelines.measure import measure

    return measure(request, reporter)
