"""`rvos.train.Trainer`: the original trainer's step on tensors, for checking a port or training from Python.

    from rvos.train import Trainer
    trainer = Trainer(model="mttr", weights=state_dict_or_path_or_name, device="cpu", dropout=False)
    result = trainer.step(videos, token_ids, targets)        # losses, matchings, grad_norm
    torch.save(trainer.official_state_dict(), "model.pth")   # the official checkpoint's names

`rvos train` (rvos_cli/pipelines/train.py) drives the same step over a dataset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch

from rvos_cli.pipelines.device import resolve_device
from rvos_cli.train.optim import OptimConfig
from rvos_cli.train.recipe import LossConfig, official_state_dict, pad_token_ids, recipe
from rvos_cli.train.runtime import train_precision
from rvos_cli.train.step import Batch, StepResult, TrainStep
from rvos_cli.weights.resolve import resolve_weights

__all__ = ["StepResult", "Trainer"]


class Trainer:
    """A model, its optimiser and the original trainer's step.

    weights: a registry name (see `rvos models`), a checkpoint file, a state dict in the official layout,
    or None for random weights drawn from the layout (`seed`). device: auto, cpu, cuda[:N] or mps.
    precision: auto (the original's AMP, fp16 with a gradient scaler, on CUDA; fp32 elsewhere), fp32,
    tf32, bf16 or fp16. dropout=False turns dropout and drop-path off (a deterministic step, as the
    parity cases were recorded). `optim` and `loss` override the official configuration.
    """

    def __init__(
        self,
        model: str = "mttr",
        weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
        *,
        device: str = "auto",
        precision: str = "auto",
        dropout: bool = True,
        optim: OptimConfig = OptimConfig(),
        loss: LossConfig = LossConfig(),
        seed: int = 0,
    ):
        self.model_name = model
        self.recipe = recipe(model)
        self.device = resolve_device(device)
        self.precision = train_precision(precision, self.device)
        if isinstance(weights, (str, os.PathLike)) and not os.path.exists(weights):
            weights = resolve_weights(model, str(weights), None).source
        self.network = self.recipe.network(weights, seed).to(self.device)
        self.network.train(dropout)
        self.step_runner = TrainStep(self.network, self.recipe.criterion(loss), optim, self.precision)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.step_runner.optimizer

    def step(
        self,
        videos: torch.Tensor,
        token_ids: Sequence[Sequence[int]],
        targets: Sequence[Sequence[dict]],
        valid_frames: Sequence[int] | None = None,
        pad_mask: torch.Tensor | None = None,
    ) -> StepResult:
        """One step.

        videos [T, B, 3, H, W] normalised; token_ids: B lists of RoBERTa ids (<s> ... </s>); targets: one
        B-tuple of dicts per valid frame (`masks` [K, H, W], `referred_instance_idx`, `is_ref_inst_visible`,
        ...); valid_frames: the frames those targets belong to (default all: T' = T), the others only
        feed the backbone's temporal attention; pad_mask [T, B, H, W] True on padding (default none).
        """
        t = videos.shape[0]
        valid = list(range(t)) if valid_frames is None else [int(i) for i in valid_frames]
        if len(valid) != len(targets):
            raise ValueError(f"{len(targets)} frames of targets for {len(valid)} valid frames")
        per_frame: list = [tuple([None] * videos.shape[1])] * t
        for index, frame in zip(valid, targets):
            per_frame[index] = tuple(frame)
        if pad_mask is None:
            pad_mask = torch.zeros((t, videos.shape[1], *videos.shape[-2:]), dtype=torch.bool)
        input_ids, attention_mask = pad_token_ids([list(ids) for ids in token_ids])
        batch = Batch(videos, pad_mask, input_ids, attention_mask, per_frame)
        return self.step_runner(batch.to(self.device))

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights under the official checkpoint's names and order (on the CPU)."""
        return official_state_dict(self.model_name, self.network)
