"""A training run's configuration: the official one of each dataset, each value overridable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from rvos_cli.errors import InputError
from rvos_cli.train.optim import OptimConfig
from rvos_cli.train.recipe import LossConfig

# configs/<dataset>.yaml and the README's commands of the original (window: -ws, batch: -bs per GPU).
DATASET_DEFAULTS = {
    "ref_youtube_vos": {"window": 12, "epochs": 30, "lr_milestones": (20,), "size": 360, "max_size": 640, "flip": True,
                        "batch_size": 1},
    "a2d_sentences": {"window": 8, "epochs": 70, "lr_milestones": (50,), "size": 320, "max_size": 576, "flip": True,
                      "batch_size": 6},
    "jhmdb_sentences": {"window": 8, "epochs": 70, "lr_milestones": (20,), "size": 320, "max_size": 576, "flip": False,
                        "batch_size": 6},
}  # fmt: skip
# What may change when a run resumes; everything else must be as the run started.
RESUMABLE = ("epochs", "max_steps", "num_workers", "log_every", "validate")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run computes (saved as RUN_DIR/config.json)."""

    model: str
    dataset: str
    weights: str
    window: int
    epochs: int
    batch_size: int
    size: int
    max_size: int | None
    flip: bool
    precision: str
    seed: int = 42
    dropout: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    max_steps: int | None = None
    num_workers: int = 2
    log_every: int = 1
    validate: bool = True

    def __post_init__(self):
        for name in ("window", "epochs", "batch_size", "size", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_size is not None and self.max_size < self.size:
            raise InputError(f"--max-size {self.max_size} is below --size {self.size}; the long side cannot be shorter")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.num_workers < 0:
            raise InputError(f"--workers must be 0 or more, got {self.num_workers}")
        o = self.optim
        if min(o.lr, o.lr_backbone, o.lr_text_encoder, o.weight_decay, o.clip_max_norm) < 0 or o.lr_gamma <= 0:
            raise InputError("learning rates, weight decay and clipping must be >= 0, and --lr-gamma > 0")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict) -> TrainConfig:
        data = dict(data)
        data["optim"] = OptimConfig(**{**data["optim"], "lr_milestones": tuple(data["optim"]["lr_milestones"])})
        data["loss"] = LossConfig(**data["loss"])
        return TrainConfig(**data)

    def differences(self, other: TrainConfig) -> list[str]:
        """The settings (outside RESUMABLE) that differ from `other`, as `name: ours != theirs`."""
        ours, theirs = _flat(self.to_json()), _flat(other.to_json())
        return [
            f"{key}: {theirs.get(key)!r} != {ours.get(key)!r}"
            for key in sorted(set(ours) | set(theirs))
            if key.split(".")[0] not in RESUMABLE and ours.get(key) != theirs.get(key)
        ]


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out
