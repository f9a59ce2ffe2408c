"""`rvos sample`: a synthetic clip and its first-frame mask, checked like any other output."""

from __future__ import annotations

import math
import os
from pathlib import Path

from rvos_cli.errors import InputError
from rvos_cli.video.outputs import check_output
from rvos_cli.video.synthetic import write_sample


def run_sample(output: str | os.PathLike, seconds: float, fps: float, width: int, height: int, audio: bool) -> Path:
    """Write OUTPUT (MP4) and OUTPUT's <stem>.mask.png; returns the mask's path."""
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise InputError(f"sample output {output} must end in .mp4")
    if not (0 < seconds < math.inf and 0 < fps < math.inf) or width < 16 or height < 16:
        raise InputError("--seconds and --fps must be positive and --width/--height at least 16 pixels")
    check_output(output, [], "output")
    return write_sample(output, seconds=seconds, fps=fps, width=width, height=height, audio=audio)
