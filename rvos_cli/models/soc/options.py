"""SOC's options (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rvos_cli.models.options import ReferModelOptions


@dataclass(frozen=True)
class SocOptions(ReferModelOptions):
    """SOC (short side 360, long side at most 640; its Ref-DAVIS evaluation runs clips of 36 frames)."""

    model: ClassVar[str] = "soc"
    default_window: ClassVar[int] = 36
