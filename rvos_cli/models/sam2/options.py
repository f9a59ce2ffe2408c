"""The options of SAM 2.1 and SAM 3's tracker (torch-free): the weights alone; the model's own config says
the rest (its square input size, its memory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rvos_cli.models.options import WeightsOptions


@dataclass(frozen=True)
class Sam2Options(WeightsOptions):
    """SAM 2.1 (`--weights sam2.1-hiera-tiny` ... `-large`, or `--checkpoint` a Hugging Face model folder)."""

    model: ClassVar[str] = "sam2"


@dataclass(frozen=True)
class Sam3TrackerOptions(WeightsOptions):
    """SAM 3's tracker (`--weights sam3`, or `--checkpoint` the facebook/sam3 folder)."""

    model: ClassVar[str] = "sam3-tracker"
