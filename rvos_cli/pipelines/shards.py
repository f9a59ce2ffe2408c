"""Splitting a batch across processes: `--shard I/N`, counted from 1 as Playwright's and Jest's
`--shard=I/N` are, or a Slurm array job.

Shard I of N takes the items at positions I, I + N, I + 2N, ... (from 1) of the batch sorted by
name, so N processes with I = 1 ... N do every item exactly once without talking to each other.
A Slurm array `--array=A-B[:S]` maps task A + (I - 1) * S onto shard I of its task count.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence, TypeVar

from rvos_cli.errors import InputError

T = TypeVar("T")
CONVENTION = "shards count from 1: I/N with I from 1 to N, as Playwright's and Jest's --shard (e.g. 1/4 ... 4/4)"


def parse_shard(text: str | None, environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(I, N), 1 <= I <= N: `--shard I/N`, else the Slurm array this process belongs to, else (1, 1)."""
    environ = os.environ if environ is None else environ
    if text is not None:
        return _flag(text)
    if "SLURM_ARRAY_TASK_ID" in environ:
        return slurm_shard(environ)
    return 1, 1


def refuse_on_single_run(text: str | None) -> None:
    """`--shard` on one plain video is an error, not ignored (a Slurm array's variables are ambient and are)."""
    if text is not None:
        _flag(text)  # a malformed I/N says so first
        raise InputError(
            f"--shard {text} splits a batch (several inputs, a folder of videos, --manifest or a dataset root); "
            "this is a single video: drop --shard"
        )


def _flag(text: str) -> tuple[int, int]:
    parts = text.split("/")
    try:
        index, count = (int(part) for part in parts)
    except ValueError:
        raise InputError(f"--shard {text!r} is not I/N; {CONVENTION}") from None
    if count < 1:
        raise InputError(f"--shard {text}: N must be at least 1; {CONVENTION}")
    if not 1 <= index <= count:
        raise InputError(f"--shard {text}: {CONVENTION}")
    return index, count


def _slurm_number(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if text is None or text.strip() == "":
        return None
    if not text.strip().isdigit():
        raise InputError(f"{name}={text!r} is not a whole number; run inside a Slurm array job or pass --shard I/N")
    return int(text)


def slurm_shard(environ: Mapping[str, str]) -> tuple[int, int]:
    """(I, N) of this task of a Slurm array `--array=MIN-MAX[:STEP]` (SLURM_ARRAY_TASK_ID, _MIN, _MAX,
    _STEP, _COUNT): task MIN + (I - 1) * STEP is shard I of N = COUNT. An array that is not one such
    range (a list such as --array=1,3,7) cannot give every task a shard of its own and is refused."""
    task = _slurm_number(environ, "SLURM_ARRAY_TASK_ID")
    low = _slurm_number(environ, "SLURM_ARRAY_TASK_MIN")
    high = _slurm_number(environ, "SLURM_ARRAY_TASK_MAX")
    step = _slurm_number(environ, "SLURM_ARRAY_TASK_STEP")
    count = _slurm_number(environ, "SLURM_ARRAY_TASK_COUNT")
    low = 0 if low is None else low
    if step is None:
        # Slurm before 22.05 sets no STEP: the count and the bounds give it.
        step = (high - low) // (count - 1) if count and count > 1 and high is not None else 1
    if step < 1:
        raise InputError(f"SLURM_ARRAY_TASK_STEP={step} must be at least 1; pass --shard I/N")
    if count is None:
        if high is None:
            raise InputError(
                "a Slurm array task without SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX; pass --shard I/N"
            )
        count = (high - low) // step + 1
    offset = task - low
    plain = high is None or (high - low) // step + 1 == count
    if not plain or offset < 0 or offset % step or offset // step >= count:
        raise InputError(
            f"Slurm array task {task} (min {low}, max {high}, step {step}, {count} tasks) is not one of a range "
            "MIN-MAX[:STEP], so some videos would be done twice or never; use --array=A-B[:S], "
            f"or pass --shard I/N ({CONVENTION})"
        )
    return offset // step + 1, count


def shard(items: Sequence[T], index: int, count: int, key=lambda item: item.name) -> list[T]:
    """Shard `index` of `count` (from 1) of `items` sorted by `key`: positions index, index + count, ..."""
    return sorted(items, key=key)[index - 1 :: count]
