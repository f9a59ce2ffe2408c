"""Training's device and precision defaults."""

from __future__ import annotations

import torch

from rvos_cli.errors import InputError

TRAIN_PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")


def train_precision(precision: str, device: torch.device) -> str:
    """`auto` is the original trainer's: AMP in float16 with a gradient scaler on CUDA, float32 elsewhere."""
    precision = precision.lower()
    if precision not in TRAIN_PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(TRAIN_PRECISIONS)}")
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise InputError("fp16 training needs a GPU; use --precision fp32 or bf16 on the CPU")
    return precision
