"""Summaries of repeated measurements: median and min-max, as `rvos bench` reports them."""

from __future__ import annotations

import statistics
from typing import Iterable


def summarize(values: Iterable[float], digits: int = 4) -> dict[str, float]:
    values = list(values)
    return {
        key: round(value, digits)
        for key, value in (("median", statistics.median(values)), ("min", min(values)), ("max", max(values)))
    }
