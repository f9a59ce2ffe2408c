"""The typed options of a model, checked before any work and without importing torch.

Each model's options are a frozen dataclass in its package (`rvos_cli/models/<model>/options.py`);
its fields are the flags the model takes (`mem_every` is `--mem-every`), so a flag given to a
model whose options lack it is refused by `rvos_cli.pipelines.options.model_options` rather than
dropped. The bases here hold what families of models share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rvos_cli.errors import InputError


@dataclass(frozen=True)
class ModelOptions:
    """Options of any model. model: its registry name. reason: why `--model auto` picked it
    (empty when named)."""

    model: ClassVar[str] = ""
    reason: str = field(default="", compare=False, kw_only=True)

    @classmethod
    def from_flags(cls, given: dict[str, Any]) -> ModelOptions:
        """The options from the flags that were given (a field absent from `given` keeps its default)."""
        return cls(**given)


@dataclass(frozen=True)
class WeightsOptions(ModelOptions):
    """A learned model's weights. weights: a registry name; checkpoint: a file (official format) or a
    Hugging Face model folder fetched by hand (wins over the entry's files); cache_dir: the weights
    cache (None: $RVOS_HOME, else $XDG_CACHE_HOME/rvos, else ~/.cache/rvos); registry: a weights.yaml
    adding entries (also RVOS_REGISTRY)."""

    weights: str | None = None
    checkpoint: Path | None = None
    cache_dir: Path | None = None
    registry: Path | None = None

    def __post_init__(self):
        if self.checkpoint is not None and not Path(self.checkpoint).exists():
            raise InputError(
                f"--checkpoint {self.checkpoint} does not exist; pass the downloaded checkpoint file "
                "(or, for a Hugging Face model, its folder)"
            )


@dataclass(frozen=True)
class ReferModelOptions(WeightsOptions):
    """A windowed referring model (MTTR, ReferFormer, SOC). tokenizer: a folder with RoBERTa's
    vocab.json and merges.txt (default: the weights entry's). size / max_size: short side and long-side
    bound of the model input (None: the model's own evaluation setting). default_size / default_window:
    the model's evaluation settings."""

    default_size: ClassVar[tuple[int, int | None]] = (360, 640)
    default_window: ClassVar[int] = 24
    tokenizer: Path | None = None
    size: int | None = None
    max_size: int | None = None

    def __post_init__(self):
        size, max_size = self.input_bounds()
        if size < 32:
            raise InputError(f"--size {size} must be at least 32")
        if size > MAX_MODEL_SIZE:
            raise InputError(f"--size {size} is more than {MAX_MODEL_SIZE} pixels, which cannot fit in memory")
        if max_size is not None and max_size < size:
            raise InputError(f"--max-size {max_size} must be at least --size {size}")
        super().__post_init__()

    def input_bounds(self) -> tuple[int, int | None]:
        """(short side, long-side bound or None) of the model input."""
        size = self.default_size[0] if self.size is None else self.size
        return size, self.default_size[1] if self.max_size is None else self.max_size


# The largest short side a model may work at: 4096 pixels (a 16:9 frame of 4096x7282, ~30 million
# pixels, already takes several GB per frame in a network); larger values cannot fit in memory.
MAX_MODEL_SIZE = 4096


def check_size(size: int) -> None:
    """A working size: 0 (native) or a positive short side the memory can hold."""
    if size < 0:
        raise InputError(f"--size must be 0 (native) or a positive shorter side, got {size}")
    if size > MAX_MODEL_SIZE:
        raise InputError(f"--size {size} is more than {MAX_MODEL_SIZE} pixels, which cannot fit in memory")
