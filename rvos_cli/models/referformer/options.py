"""ReferFormer's options (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rvos_cli.models.options import ReferModelOptions


@dataclass(frozen=True)
class ReferFormerOptions(ReferModelOptions):
    """ReferFormer (its Ref-YouTube-VOS evaluation: short side 360, no bound on the long side; its
    Ref-DAVIS evaluation runs clips of 36 frames)."""

    model: ClassVar[str] = "referformer"
    default_size: ClassVar[tuple[int, int | None]] = (360, None)
    default_window: ClassVar[int] = 36
