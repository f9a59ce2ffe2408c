"""Seconds spent per pipeline stage, for the `--json` summary and `rvos bench`."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Iterable, Iterator, TypeVar

from rvos_cli.pipelines.device import sync

T = TypeVar("T")


class Timings:
    """Accumulates wall-clock seconds per stage name.

    Stages may run in different threads (decode ahead, encode behind); each stage is only
    timed from one thread, so the totals are busy times and may add up to more than the wall time.
    `device`, a GPU (CUDA or MPS; `Runtime.clock_device`), is synchronised before a stage's clock stops
    so queued kernels count; None for the CPU.
    """

    def __init__(self, device=None):
        self.seconds: dict[str, float] = defaultdict(float)
        self.device = device

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            if self.device is not None:
                sync(self.device)
            self.seconds[stage] += time.perf_counter() - begin

    def timed_iter(self, stage: str, iterable: Iterable[T]) -> Iterator[T]:
        """Iterate, charging the time spent producing each item to `stage`."""
        iterator = iter(iterable)
        while True:
            with self(stage):
                item = next(iterator, StopIteration)
            if item is StopIteration:
                return
            yield item

    def rounded(self, digits: int = 4) -> dict[str, float]:
        return {stage: round(seconds, digits) for stage, seconds in self.seconds.items()}
