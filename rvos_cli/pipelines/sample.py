"""`rvos sample`: a synthetic clip and its first-frame mask, checked like any other output."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from rvos_cli.errors import InputError
from rvos_cli.video.outputs import check_output
from rvos_cli.video.synthetic import write_sample


@dataclass
class SampleSummary:
    video: Path
    mask: Path

    def to_json(self) -> dict:
        return {"command": "sample", "video": os.fspath(self.video), "mask": os.fspath(self.mask)}

    def human(self) -> str:
        return (
            f"wrote {self.video} and {self.mask}\nnext: rvos propagate {self.video} --mask {self.mask} "
            f"-o {self.video.with_suffix('.masks')} --video {self.video.with_suffix('.overlay.mp4')}"
        )


def run_sample(
    output: str | os.PathLike, seconds: float, fps: float, width: int, height: int, audio: bool
) -> SampleSummary:
    """Write OUTPUT (MP4) and OUTPUT's <stem>.mask.png."""
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise InputError(f"sample output {output} must end in .mp4")
    if not (0 < seconds < math.inf and 0 < fps < math.inf) or width < 16 or height < 16:
        raise InputError("--seconds and --fps must be positive and --width/--height at least 16 pixels")
    check_output(output, [], "output")
    mask = write_sample(output, seconds=seconds, fps=fps, width=width, height=height, audio=audio)
    return SampleSummary(output, mask)
