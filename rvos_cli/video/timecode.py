"""Times on the command line: plain seconds (`12.5`) or `[hh:]mm:ss[.ms]` (`1:02.5`)."""

from __future__ import annotations

import math
import re

from rvos_cli.errors import InputError

# mm:ss[.ms] or hh:mm:ss[.ms]: whole minutes and hours, seconds with an optional fraction.
CLOCK = re.compile(r"^(?:(?P<hours>[0-9]+):)?(?P<minutes>[0-9]+):(?P<seconds>[0-9]+(?:\.[0-9]*)?)$")
FORMS = "use seconds (12.5) or [hh:]mm:ss[.ms] (1:02.5)"


def parse_time(value: str | float | None, flag: str = "--start") -> float | None:
    """Seconds as a float; None stays None. A malformed or negative time is an InputError, and so is
    a clock time whose seconds (or, after hours, minutes) are 60 or more: `1:99` is not 159 s."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and ":" in value:
        seconds = _clock(value, flag)
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{flag} {value!r} is not a time; {FORMS}") from None
    if not math.isfinite(seconds):  # nan, inf
        raise InputError(f"{flag} {value!r} is not a time; {FORMS}")
    if seconds < 0:
        raise InputError(f"{flag} {value!r} is negative; times count from the start of the video")
    return seconds


def _clock(value: str, flag: str) -> float:
    match = CLOCK.match(value.strip())
    if match is None:
        raise InputError(f"{flag} {value!r} is not a time; {FORMS}")
    hours = int(match["hours"] or 0)
    minutes, seconds = int(match["minutes"]), float(match["seconds"])
    if seconds >= 60:
        raise InputError(f"{flag} {value!r}: the seconds field is {match['seconds']}, which must be below 60; {FORMS}")
    if match["hours"] is not None and minutes >= 60:
        raise InputError(
            f"{flag} {value!r}: the minutes field is {minutes}, which must be below 60 after hours; {FORMS}"
        )
    return hours * 3600 + minutes * 60 + seconds


def format_time(seconds: float) -> str:
    """`mm:ss.mmm`, with hours when needed."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{minutes:02d}:{secs:06.3f}"
    return f"{hours}:{text}" if hours else text
