"""MTTR's options (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rvos_cli.models.options import ReferModelOptions


@dataclass(frozen=True)
class MttrOptions(ReferModelOptions):
    """MTTR (Ref-YouTube-VOS evaluation: short side 360, long side at most 640, windows of 24 frames)."""

    model: ClassVar[str] = "mttr"
