"""Soft aggregation of independent per-object probabilities into one distribution per pixel."""

from __future__ import annotations

import torch
from torch import Tensor


def aggregate(prob: Tensor) -> Tensor:
    """prob [K,...] -> [K+1,...] (background first): softmax over the objects' and background's logits.

    The background is the probability that no object is present, prod(1 - p_k).
    """
    prob = torch.cat([torch.prod(1 - prob, dim=0, keepdim=True), prob], dim=0).clamp(1e-7, 1 - 1e-7)
    return torch.softmax(torch.log(prob / (1 - prob)), dim=0)
