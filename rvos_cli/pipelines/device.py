"""Device and precision selection shared by every pipeline."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from rvos_cli.errors import InputError
from rvos_cli.pipelines.options import PRECISIONS, RuntimeOptions

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """Where and how a model runs: a torch device and a precision (fp32, bf16 or fp16)."""

    device: torch.device
    precision: str

    def autocast(self):
        return autocast(self.device, self.precision)

    def describe(self) -> dict[str, str]:
        return {"device": str(self.device), "precision": self.precision}


def resolve_runtime(options: RuntimeOptions) -> Runtime:
    """The device (`auto`: cuda, then mps, then cpu) and the precision for it, checked once per run."""
    device = resolve_device(options.device)
    return Runtime(device, resolve_precision(options.precision, device))


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable explicit choice is an InputError."""
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


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is bf16 on CUDA GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    precision = precision.lower()
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """An autocast context for bf16/fp16, a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def sync(device: torch.device) -> None:
    """Wait for the GPU work queued on `device` (a no-op on the CPU), before a clock is read."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
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
