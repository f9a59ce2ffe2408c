"""One optimisation step of the original trainer: forward (with auxiliary outputs), set criterion, backward,
gradient clipping, AdamW, under AMP with a gradient scaler where the precision asks for it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rvos_cli.errors import InputError
from rvos_cli.models.mttr.criterion import SetCriterion
from rvos_cli.models.mttr.matcher import Matching
from rvos_cli.train import distributed
from rvos_cli.train.optim import OptimConfig, build_optimizer, build_scheduler

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class NonFiniteLoss(InputError):
    """The loss became NaN or infinite (exit 2): the weights were not updated by that step."""

    def __init__(self, step: int, losses: dict[str, float]):
        terms = ", ".join(f"{name} {value:.4g}" for name, value in losses.items()) or "the model's outputs"
        super().__init__(
            f"the loss is not finite at step {step} ({terms}); the weights of the last checkpoint are kept: "
            "lower --lr, check the data, or train in fp32 (--precision fp32)"
        )
        self.step, self.losses = step, losses


@dataclass
class StepResult:
    """losses: every term as the original names it (averaged over processes); total_loss: their weighted
    sum; matchings: per decoder layer, last first, per video (query indices, target indices);
    grad_norm: the total gradient norm before clipping; lr: the main group's learning rate."""

    losses: dict[str, float]
    total_loss: float
    matchings: list[Matching]
    grad_norm: float
    lr: float


@dataclass
class Batch:
    """A collated batch: videos [T, B, 3, H, W] (normalised, zero-padded), pad_mask [T, B, H, W] (True on
    padding), input_ids / attention_mask [B, L], targets (one B-tuple of dicts per frame; None entries for
    frames without annotation, as the original's collator), and the texts (for logs)."""

    videos: torch.Tensor
    pad_mask: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: list
    texts: list[str] | None = None

    def annotated(self) -> tuple[torch.Tensor, list]:
        """(valid_indices [T'], the targets of those frames): frames where every video has a target."""
        valid = [i for i, frame in enumerate(self.targets) if None not in frame]
        return torch.tensor(valid, dtype=torch.long), [self.targets[i] for i in valid]

    def to(self, device: torch.device) -> Batch:
        move = lambda x: x.to(device, non_blocking=True) if isinstance(x, torch.Tensor) else x
        targets = [
            tuple(None if t is None else {k: move(v) for k, v in t.items()} for t in frame) for frame in self.targets
        ]
        return Batch(
            *(move(x) for x in (self.videos, self.pad_mask, self.input_ids, self.attention_mask)), targets, self.texts
        )


class TrainStep:
    """The optimiser state and the step of one model (`model`: the network, or its DistributedDataParallel wrap).

    precision: fp32 / tf32 (no autocast), bf16 (autocast) or fp16 (autocast and a gradient scaler, the
    original's AMP on CUDA).
    """

    def __init__(self, model: nn.Module, criterion: SetCriterion, optim: OptimConfig, precision: str = "fp32"):
        self.model = model
        self.network = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        self.criterion = criterion
        self.optim = optim
        self.precision = precision
        self.device = next(self.network.parameters()).device
        self.optimizer = build_optimizer(self.network, optim)
        self.scheduler = build_scheduler(self.optimizer, optim)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self.steps = 0

    def __call__(self, batch: Batch) -> StepResult:
        valid_indices, targets = batch.annotated()
        with torch.autocast(
            self.device.type, AMP_DTYPES.get(self.precision, torch.float32), self.precision in AMP_DTYPES
        ):
            outputs = self.model(
                batch.videos,
                batch.input_ids,
                batch.attention_mask,
                batch.pad_mask,
                aux_outputs=True,
                valid_indices=valid_indices.to(batch.videos.device),
            )
            if not all(torch.isfinite(outputs[k]).all() for k in ("pred_masks", "pred_is_referred")):
                raise NonFiniteLoss(self.steps + 1, {})  # the matcher cannot order NaN costs
            losses, matchings = self.criterion(outputs, targets)
            total = self.criterion.total(losses)
        logged = {name: value.item() for name, value in distributed.mean_dict(losses).items()}
        logged_total = sum(logged[k] * self.criterion.weight_dict[k] for k in logged if k in self.criterion.weight_dict)
        if not math.isfinite(logged_total):
            raise NonFiniteLoss(self.steps + 1, logged)
        self.optimizer.zero_grad()
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)  # clip and report the true gradients
        max_norm = self.optim.clip_max_norm if self.optim.clip_max_norm > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), max_norm, error_if_nonfinite=False)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.steps += 1
        return StepResult(logged, logged_total, matchings, grad_norm.item(), self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict(),
            "grad_scaler_state_dict": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer_state_dict"])
        self.scheduler.load_state_dict(state["scheduler_state_dict"])
        if state.get("grad_scaler_state_dict"):
            self.scaler.load_state_dict(state["grad_scaler_state_dict"])
