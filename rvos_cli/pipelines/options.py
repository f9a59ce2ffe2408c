"""Typed options of every model and of the runtime, checked before any work.

Nothing here imports torch, so a bad value is exit 2 in a fraction of a second, before any
decoding or weights lookup. An option that does not apply to the chosen model is an error
rather than being dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rvos_cli.errors import InputError

PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class RuntimeOptions:
    """device: auto, cpu, cuda, cuda:N or mps. precision: auto (bf16 on CUDA, fp32 elsewhere), fp32 (real
    float32: TF32 off on CUDA), tf32 (float32 with TF32 matmuls and convolutions on CUDA; fp32 elsewhere),
    bf16, fp16. compile: `torch.compile` the network's fixed-shape stages (a learned model only)."""

    device: str = "auto"
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self):
        object.__setattr__(self, "device", self.device.lower())
        object.__setattr__(self, "precision", self.precision.lower())
        if not DEVICE.match(self.device):
            raise InputError(f"unknown --device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown --precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class WeightsOptions:
    """weights: a registry name; checkpoint: a file fetched by hand (wins over the entry's file);
    cache_dir: the weights cache (None: $RVOS_HOME, else $XDG_CACHE_HOME/rvos, else ~/.cache/rvos)."""

    weights: str | None = None
    checkpoint: Path | None = None
    cache_dir: Path | None = None

    def check_checkpoint(self) -> None:
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise InputError(
                f"--checkpoint {self.checkpoint} does not exist (or is not a file); pass the downloaded checkpoint"
            )


# --- propagate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowOptions:
    """The weight-free optical-flow tracker. size: short side the flow is computed at (0 = native).
    reason: why `--model auto` picked it (empty when named)."""

    model: ClassVar[str] = "flow"
    size: int = 480
    reason: str = field(default="", compare=False)

    def __post_init__(self):
        _check_size(self.size)


@dataclass(frozen=True)
class RdevosOptions(WeightsOptions):
    """RDE-VOS. size: short side the network works at (0 = native); upscale: whether a clip whose
    short side is below `size` is upscaled to it (only when --size was given); mem_every / top_k:
    the memory schedule (None: the weights entry's values). reason: why `--model auto` picked it."""

    model: ClassVar[str] = "rdevos"
    size: int = 480
    mem_every: int | None = None
    top_k: int | None = None
    upscale: bool = False
    reason: str = field(default="", compare=False)

    def __post_init__(self):
        _check_size(self.size)
        for flag, value in (("--mem-every", self.mem_every), ("--top-k", self.top_k)):
            if value is not None and value < 1:
                raise InputError(f"{flag} {value} must be at least 1")
        self.check_checkpoint()


PropagateOptions = FlowOptions | RdevosOptions
PROPAGATE_MODELS = ("flow", "rdevos")


def propagate_options(
    model: str = "auto",
    weights: str | None = None,
    checkpoint: Path | None = None,
    size: int | None = None,
    mem_every: int | None = None,
    top_k: int | None = None,
    runtime: RuntimeOptions = RuntimeOptions(),
    installed: list[str] | bool = False,
    cache_dir: Path | None = None,
) -> PropagateOptions:
    """The options of `rvos propagate --model ...`. `auto` is rdevos when RDE-VOS weights are
    `installed` (their names, or True) or a learned-model option is given, else flow."""
    learned = {"--weights": weights, "--checkpoint": checkpoint, "--mem-every": mem_every, "--top-k": top_k}
    given = [flag for flag, value in learned.items() if value is not None]
    reason = ""
    if model == "auto":
        model = "rdevos" if given or installed else "flow"
        if given:
            reason = f"--model auto picked rdevos because {given[0]} was given"
        elif installed:
            names = f" ({', '.join(installed)})" if isinstance(installed, list) else ""
            reason = f"--model auto picked rdevos because RDE-VOS weights are installed{names}"
        else:
            reason = "--model auto picked flow because no RDE-VOS weights are installed"
    if model not in PROPAGATE_MODELS:
        raise InputError(f"unknown --model {model!r}; use auto or one of: {', '.join(PROPAGATE_MODELS)}")
    if model == "flow":
        if given:
            raise InputError(
                f"{given[0]} is for learned models but --model flow uses no weights; "
                f"drop {given[0]} or use --model rdevos"
            )
        if runtime.device not in ("auto", "cpu") or runtime.precision not in ("auto", "fp32"):
            raise InputError("--model flow runs on the CPU in float32; drop --device/--precision or use --model rdevos")
        if runtime.compile:
            raise InputError("--compile is for learned models but --model flow has no network; drop --compile")
        return FlowOptions(size=480 if size is None else size, reason=reason)
    return RdevosOptions(
        weights=weights,
        checkpoint=checkpoint,
        cache_dir=cache_dir,
        size=480 if size is None else size,
        mem_every=mem_every,
        top_k=top_k,
        upscale=size is not None,
        reason=reason,
    )


# --- refer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferModelOptions(WeightsOptions):
    """A referring model. tokenizer: a folder with RoBERTa's vocab.json and merges.txt (default:
    the weights entry's). size / max_size: short side and long-side bound of the model input
    (None: the model's own evaluation setting). backbone: for random weights (`rvos bench`)."""

    model: ClassVar[str] = ""
    default_size: ClassVar[tuple[int, int | None]] = (360, 640)
    default_window: ClassVar[int] = 24
    tokenizer: Path | None = None
    size: int | None = None
    max_size: int | None = None
    backbone: str | None = None

    def __post_init__(self):
        size, max_size = self.input_bounds()
        if size < 32:
            raise InputError(f"--size {size} must be at least 32")
        if size > MAX_MODEL_SIZE:
            raise InputError(f"--size {size} is more than {MAX_MODEL_SIZE} pixels, which cannot fit in memory")
        if max_size is not None and max_size < size:
            raise InputError(f"--max-size {max_size} must be at least --size {size}")
        self.check_checkpoint()

    def input_bounds(self) -> tuple[int, int | None]:
        """(short side, long-side bound or None) of the model input."""
        size = self.default_size[0] if self.size is None else self.size
        return size, self.default_size[1] if self.max_size is None else self.max_size


@dataclass(frozen=True)
class MttrOptions(ReferModelOptions):
    """MTTR (Ref-YouTube-VOS evaluation: short side 360, long side at most 640)."""

    model: ClassVar[str] = "mttr"


@dataclass(frozen=True)
class ReferFormerOptions(ReferModelOptions):
    """ReferFormer (its Ref-YouTube-VOS evaluation: short side 360, no bound on the long side; its
    Ref-DAVIS evaluation runs clips of 36 frames)."""

    model: ClassVar[str] = "referformer"
    default_size: ClassVar[tuple[int, int | None]] = (360, None)
    default_window: ClassVar[int] = 36


@dataclass(frozen=True)
class SocOptions(ReferModelOptions):
    """SOC (short side 360, long side at most 640; its Ref-DAVIS evaluation runs clips of 36 frames)."""

    model: ClassVar[str] = "soc"
    default_window: ClassVar[int] = 36


REFER_OPTIONS: dict[str, type[ReferModelOptions]] = {o.model: o for o in (MttrOptions, ReferFormerOptions, SocOptions)}


def refer_options(model: str | None = None, weights: str | None = None, **options) -> ReferModelOptions:
    """The options of `rvos refer`: the model is `model`, else that of the `weights` entry, else MTTR."""
    if model is None:
        model = _model_of_weights(weights) if weights else "mttr"
    if model not in REFER_OPTIONS:
        raise InputError(f"unknown --model {model!r}; use one of: {', '.join(REFER_OPTIONS)}")
    return REFER_OPTIONS[model](weights=weights, **options)


def _model_of_weights(name: str) -> str:
    from rvos_cli.weights import registry_entry

    entry = registry_entry(name)
    if entry.task != "refer":
        raise InputError(f"weights '{name}' are for `rvos {entry.task}`, not `rvos refer` (see `rvos models`)")
    return entry.model


# --- windows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowOptions:
    """Frames per inference window and frames shared by consecutive windows (the later one wins)."""

    window: int = 24
    overlap: int = 6

    def __post_init__(self):
        if self.window < 1:
            raise InputError(f"--window {self.window} must be at least 1")
        if not 0 <= self.overlap < self.window:
            raise InputError(f"--overlap {self.overlap} must be at least 0 and less than --window {self.window}")

    def spans(self, num_frames: int) -> list[tuple[int, int]]:
        """Windows start every `window - overlap` frames; the last may be shorter. A window that
        would lie inside the previous one (the clip already ended) is not run."""
        spans = []
        for start in range(0, num_frames, self.window - self.overlap):
            spans.append((start, min(start + self.window, num_frames)))
            if start + self.window >= num_frames:
                break
        return spans


@dataclass(frozen=True)
class ClipOptions:
    """Which part of the input to use: --start/--end ([hh:]mm:ss or seconds), --max-seconds, --fps of a folder."""

    fps: float | None = None
    start: str | None = None
    end: str | None = None
    max_seconds: float = 10.0

    def __post_init__(self):
        # Checked here, so that a bad value is one exit 2 and not the error of every video of a batch.
        from rvos_cli.video.reader import Trim, check_clip_numbers
        from rvos_cli.video.timecode import parse_time

        check_clip_numbers(self.fps, self.max_seconds)
        Trim(parse_time(self.start, "--start"), parse_time(self.end, "--end"), self.max_seconds).bounds()


# The largest short side a model may work at: 4096 pixels (a 16:9 frame of 4096x7282, ~30 million
# pixels, already takes several GB per frame in a network); larger values cannot fit in memory.
MAX_MODEL_SIZE = 4096


def _check_size(size: int) -> None:
    if size < 0:
        raise InputError(f"--size must be 0 (native) or a positive shorter side, got {size}")
    if size > MAX_MODEL_SIZE:
        raise InputError(f"--size {size} is more than {MAX_MODEL_SIZE} pixels, which cannot fit in memory")
