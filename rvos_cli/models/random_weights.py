"""Random weights in an official checkpoint layout, for benchmarks and tests without a download.

Speed does not depend on the values, but magnitudes do matter (overflowing activations can hit slow
paths), so each tensor is scaled like a sensible initialisation: matrices by 1/sqrt(fan-in), norm
weights near 1, variances positive, everything else small.
"""

from __future__ import annotations

import torch

from rvos_cli.models.layout import CheckpointLayout


def random_state_dict(layout: CheckpointLayout, seed: int = 0) -> dict[str, torch.Tensor]:
    """name -> float32 tensor for every entry of `layout` a file must have (`layout.floating()`)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in layout.floating().items():
        leaf = name.rsplit(".", 1)[-1]
        noise = torch.randn(shape, generator=generator)
        if len(shape) >= 2:
            value = noise / max(1, noise[0].numel()) ** 0.5
        elif leaf == "running_var":
            value = 1.0 + 0.25 * noise.abs()
        elif leaf == "weight":
            value = 1.0 + 0.1 * noise
        else:
            value = 0.1 * noise
        state[name] = value
    return state
