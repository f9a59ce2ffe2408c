"""Device and precision: where a model runs and the one precision policy every caller applies.

torch is imported only when a model that needs it runs: a run of a model without torch (the flow
tracker) gets `Runtime("cpu", "fp32")` from `resolve_runtime(options, torch=False)`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from rvos_cli.errors import InputError
from rvos_cli.pipelines.options import PRECISIONS, RuntimeOptions

TF32 = {"fp32": False, "tf32": True}  # precision -> torch.backends.{cuda.matmul,cudnn}.allow_tf32


@dataclass(frozen=True)
class Runtime:
    """Where and how a model runs: a torch device (or "cpu" for a model without torch) and a
    precision (fp32, tf32, bf16 or fp16).

    `compute()` is the precision policy, entered around every model call by every caller (the CLI,
    the Python API, bench): the TF32 and cuDNN flags of the precision, then autocast for bf16/fp16.
    fp32 is real float32: TF32 is off for matmuls and cuDNN convolutions; tf32 turns both on. The
    flags are process-wide attributes that only CUDA reads; they are set on every device, so that
    a run computes alike wherever it is checked.
    """

    device: Any
    precision: str
    compile: bool = False

    @property
    def device_type(self) -> str:
        return self.device if isinstance(self.device, str) else self.device.type

    @property
    def uses_torch(self) -> bool:
        return not isinstance(self.device, str)

    def compute(self):
        """The context a model call runs in: `math()`, then autocast for bf16/fp16."""
        if not self.uses_torch:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(self.math())
        stack.enter_context(autocast(self.device, self.precision))
        return stack

    def math(self):
        """cuDNN's autotuner on (a window or a frame keeps its shape for the whole run, so the fastest
        convolution algorithms are found once), and TF32 off (fp32) or on (tf32) for matmuls and cuDNN;
        all restored on exit."""
        if not self.uses_torch:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(cudnn_benchmark())
        if self.precision in TF32:
            stack.enter_context(tf32_enabled(TF32[self.precision]))
        return stack

    def describe(self) -> dict[str, str | bool]:
        return {"device": str(self.device), "precision": self.precision, "compile": self.compile}

    @property
    def clock_device(self):
        """The device whose queued work a clock must wait for (None: the CPU, which does not queue)."""
        return self.device if self.device_type in ("cuda", "mps") else None


def resolve_runtime(options: RuntimeOptions, torch: bool = True) -> Runtime:
    """The device (`auto`: cuda, then mps, then cpu) and the precision for it, checked once per run.
    `torch=False`: the CPU in float32, for a model without torch (its options were checked already)."""
    if not torch:
        return Runtime("cpu", "fp32")
    device = resolve_device(options.device)
    return Runtime(device, resolve_precision(options.precision, device), options.compile)


COMPILE_BACKEND = "inductor"  # tests trace with "eager": the same graph capture, without code generation


def compiled(function):
    """`torch.compile` of one fixed-shape stage: shapes are static (a window or a frame keeps its size for
    the whole run, so a new size, e.g. the last, shorter window, compiles once more)."""
    import torch

    return torch.compile(function, dynamic=False, backend=COMPILE_BACKEND)


def resolve_device(name: str = "auto"):
    """`auto` picks cuda, then mps, then cpu; an unavailable explicit choice is an InputError."""
    import torch

    name = name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("--device mps was asked for but MPS is not available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None


def resolve_precision(precision: str, device) -> str:
    """`auto` is bf16 on CUDA GPUs that support it, fp16 on other GPUs, fp32 on CPU. tf32 is kept as
    asked on every device (on the CPU it computes as fp32)."""
    import torch

    precision = precision.lower()
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device, precision: str):
    """An autocast context for bf16/fp16, a no-op for fp32 and tf32."""
    import torch

    if precision in TF32:
        return contextlib.nullcontext()
    return torch.autocast(
        device_type=device.type, dtype=getattr(torch, {"bf16": "bfloat16", "fp16": "float16"}[precision])
    )


@contextlib.contextmanager
def tf32_enabled(enabled: bool):
    """Set `torch.backends.cuda.matmul.allow_tf32` and `torch.backends.cudnn.allow_tf32` to `enabled`,
    restoring both previous values on exit. The flags are process-wide: the model runs in one thread."""
    import torch

    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


@contextlib.contextmanager
def cudnn_benchmark():
    """`torch.backends.cudnn.benchmark` on, restored on exit."""
    import torch

    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def sync(device) -> None:
    """Wait for the GPU work queued on `device` (a no-op on the CPU), before a clock is read."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device) -> str:
    """The GPU's name, the CPU's model name, or the device type."""
    if isinstance(device, str):
        return _cpu_name() if device == "cpu" else device
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return _cpu_name()
    return device.type


def _cpu_name() -> str:
    import platform

    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
