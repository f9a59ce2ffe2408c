"""The flow tracker's options (torch-free, as the tracker itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rvos_cli.models.options import ModelOptions, check_size


@dataclass(frozen=True)
class FlowOptions(ModelOptions):
    """The weight-free optical-flow tracker. size: short side the flow is computed at (0 = native)."""

    model: ClassVar[str] = "flow"
    size: int = 480

    def __post_init__(self):
        check_size(self.size)
