"""RDE-VOS's options (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rvos_cli.errors import InputError
from rvos_cli.models.options import WeightsOptions, check_size


@dataclass(frozen=True)
class RdevosOptions(WeightsOptions):
    """RDE-VOS. size: short side the network works at (0 = native); upscale: whether a clip whose
    short side is below `size` is upscaled to it (only when --size was given); mem_every / top_k:
    the memory schedule (None: the weights entry's values, else the YouTube-VOS evaluation's)."""

    model: ClassVar[str] = "rdevos"
    size: int = 480
    mem_every: int | None = None
    top_k: int | None = None
    upscale: bool = False

    def __post_init__(self):
        check_size(self.size)
        for flag, value in (("--mem-every", self.mem_every), ("--top-k", self.top_k)):
            if value is not None and value < 1:
                raise InputError(f"{flag} {value} must be at least 1")
        super().__post_init__()

    @classmethod
    def from_flags(cls, given: dict[str, Any]) -> RdevosOptions:
        # A clip smaller than the working size is upscaled only when the user asked for that size.
        return cls(**given, upscale="size" in given)
