"""Every `RVOS_*` environment variable, parsed and checked in one place.

The environment is read when `current()` is called (not at import), so a test or a long-lived
Python process that changes a variable sees the change. A bad value is one InputError naming
the variable, never a traceback from deep inside a download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rvos_cli.errors import InputError

TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """home: weights cache root; registry: an extra weights.yaml; offline: never download;
    retries / retry_backoff / timeout: download robustness (count, seconds, seconds);
    modelscope_endpoint: base URL of ModelScope; debug: print tracebacks of unexpected errors."""

    home: Path
    registry: Path | None
    offline: bool
    retries: int
    retry_backoff: float
    timeout: float
    modelscope_endpoint: str
    debug: bool


def current() -> Settings:
    """The settings in the environment now."""
    return Settings(
        home=_home(),
        registry=Path(os.environ["RVOS_REGISTRY"]).expanduser() if os.environ.get("RVOS_REGISTRY") else None,
        offline=_flag("RVOS_OFFLINE"),
        retries=int(_number("RVOS_RETRIES", 3, integer=True)),
        retry_backoff=_number("RVOS_RETRY_BACKOFF", 1.0),
        timeout=_number("RVOS_TIMEOUT", 30.0, positive=True),
        modelscope_endpoint=os.environ.get("RVOS_MODELSCOPE_ENDPOINT", "https://modelscope.cn").rstrip("/"),
        debug=_flag("RVOS_DEBUG"),
    )


def _home() -> Path:
    """$RVOS_HOME, else $XDG_CACHE_HOME/rvos, else ~/.cache/rvos."""
    if os.environ.get("RVOS_HOME"):
        return Path(os.environ["RVOS_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "rvos"
    return Path.home() / ".cache" / "rvos"


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InputError(f"{name}={os.environ[name]!r} is not a yes/no value; set it to 1 or 0, or unset it")


def _number(name: str, default: float, integer: bool = False, positive: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise InputError(f"{name}={text!r} is not {kind}; set it to e.g. {name}={default:g}, or unset it") from None
    if value < 0 or (positive and value == 0) or value != value or value in (float("inf"),):
        bound = "greater than 0" if positive else "0 or more"
        raise InputError(f"{name}={text!r} must be {bound}; set it to e.g. {name}={default:g}, or unset it")
    return value
