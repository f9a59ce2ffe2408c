"""Summaries of repeated measurements: median and min-max, as `rvos bench` reports them."""

from __future__ import annotations

import statistics
from typing import Iterable


def summarize(values: Iterable[float]) -> dict[str, float]:
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
