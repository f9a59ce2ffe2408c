"""Times on the command line: plain seconds (`12.5`) or `[hh:]mm:ss[.ms]` (`1:02.5`)."""

from __future__ import annotations

import math

from rvos_cli.errors import InputError


def parse_time(value: str | float | None, flag: str = "--start") -> float | None:
    """Seconds as a float; None stays None. A malformed or negative time is an InputError."""
    if value is None or isinstance(value, (int, float)):
        seconds = value
    else:
        try:
            parts = [float(part) for part in value.strip().split(":")]
        except ValueError:
            parts = []
        if not 1 <= len(parts) <= 3 or (len(parts) > 1 and min(parts) < 0):
            raise InputError(f"{flag} {value!r} is not a time; use seconds (12.5) or [hh:]mm:ss[.ms] (1:02.5)")
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
    if seconds is not None and not math.isfinite(seconds):  # nan, inf
        raise InputError(f"{flag} {value!r} is not a time; use seconds (12.5) or [hh:]mm:ss[.ms] (1:02.5)")
    if seconds is not None and seconds < 0:
        raise InputError(f"{flag} {value!r} is negative; times count from the start of the video")
    return seconds


def format_time(seconds: float) -> str:
    """`mm:ss.mmm`, with hours when needed."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{minutes:02d}:{secs:06.3f}"
    return f"{hours}:{text}" if hours else text
