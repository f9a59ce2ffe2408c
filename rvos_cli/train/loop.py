"""The training loop: epochs of steps, validation, checkpoints, resuming, and stopping cleanly.

A run is deterministic given its configuration: the order of each epoch is a permutation drawn from
(seed, epoch), each sample's augmentation from (seed, epoch, index), dropout from torch's generator,
whose state every checkpoint keeps. So a run stopped after any step (--max-steps, Ctrl-C, SIGTERM)
and resumed computes what the uninterrupted run computes, bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from rvos_cli.errors import Interrupted
from rvos_cli.train import distributed
from rvos_cli.train.checkpoint import RunCheckpoints
from rvos_cli.train.config import TrainConfig
from rvos_cli.train.datasets import ReferringDataset, Skipped
from rvos_cli.train.step import Batch, TrainStep
from rvos_cli.train.transforms import collate


@dataclass
class Position:
    """Where a run is: the epoch under way (0-based), the batches of it done, the steps done in all,
    the epoch's summed loss so far, samples skipped, and the best validation score."""

    epoch: int = 0
    epoch_step: int = 0
    step: int = 0
    epoch_loss: float = 0.0
    skipped: int = 0
    best: float | None = None


class EpochSampler(torch.utils.data.Sampler):
    """This process's indices of one epoch: a permutation drawn from (seed, epoch), every world_size-th
    from rank (padded by wrapping around, as DistributedSampler), from batch `start` on."""

    def __init__(self, size: int, seed: int, epoch: int, start: int, batch_size: int):
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(size, generator=generator).tolist()
        world, rank = distributed.world_size(), distributed.rank()
        per_rank = math.ceil(size / world)
        order = (order * math.ceil(per_rank * world / max(size, 1)))[: per_rank * world]
        self.indices = order[rank::world][start * batch_size :]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def batches_per_epoch(size: int, batch_size: int) -> int:
    return math.ceil(math.ceil(size / distributed.world_size()) / batch_size)


def _collate(items):
    """In a loader worker: the readable samples collated (texts not yet tokenised) and the skipped reasons."""
    good = [item for item in items if not isinstance(item, Skipped)]
    reasons = [item.reason for item in items if isinstance(item, Skipped)]
    return (collate(good, None) if good else None), reasons


@contextlib.contextmanager
def deferred_signals(on_signal: Callable[[], None]) -> Iterator[list[int]]:
    """SIGINT, SIGTERM and SIGHUP wait until the block ends (a step is never cut in half); the list
    yielded holds the signal received. A second signal interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    received: list[int] = []

    def handler(signum, frame):
        if received:  # the second: out at once, without saving a state the step may have half changed
            stop = KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)
            stop.abandon = True
            raise stop
        received.append(signum)
        on_signal()

    numbers = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {n: signal.signal(n, handler) for n in numbers if signal.getsignal(n) is not signal.SIG_IGN}
    try:
        yield received
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@dataclass
class RunResult:
    """How a run ended: finished, stopped (--max-steps) or interrupted, where, and the last numbers."""

    status: str
    position: Position
    last: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    checkpoint: Path | None = None


class TrainingRun:
    """One run: the step, the data, the checkpoints of RUN_DIR and what it reports.

    log(record): a JSON line per logged step and per epoch; warn(message); progress(total) -> advance.
    validate(): the validation metrics ({} when there is no validation split).
    """

    def __init__(
        self,
        config: TrainConfig,
        trainer: TrainStep,
        dataset: ReferringDataset,
        tokenizer,
        checkpoints: RunCheckpoints,
        log: Callable[[dict], None],
        warn: Callable[[str], None],
        note: Callable[[str], None],
        validate: Callable[[], dict],
    ):
        self.config, self.trainer, self.dataset, self.tokenizer = config, trainer, dataset, tokenizer
        self.checkpoints, self.log, self.warn, self.note, self.validate = checkpoints, log, warn, note, validate
        self.position = Position()

    @property
    def steps_per_epoch(self) -> int:
        return batches_per_epoch(len(self.dataset), self.config.batch_size)

    def total_steps(self) -> int:
        total = self.steps_per_epoch * self.config.epochs
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint of this run (RunCheckpoints.load)."""
        self.trainer.load_state_dict(state)
        self.position = Position(**state["rvos"]["position"])
        self.trainer.steps = self.position.step
        rng = state["rvos"]["rng"]
        torch.set_rng_state(rng["cpu"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def save(self, epoch_end: bool = False) -> Path:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        extra = {"position": asdict(self.position), "rng": rng}
        return self.checkpoints.save(self.trainer, self.position, extra, epoch_end)

    def run(self, advance: Callable[[int], None]) -> RunResult:
        result = RunResult("finished", self.position)
        try:
            while self.position.epoch < self.config.epochs:
                stopped = self._epoch(advance, result)
                if stopped:
                    return stopped
                result.validation = self._end_epoch()
            result.checkpoint = self.checkpoints.last
            return result
        except KeyboardInterrupt as stop:
            if distributed.is_main() and not getattr(stop, "abandon", False):
                result.checkpoint = self.save()
                self.note(f"saved a resumable checkpoint at step {self.position.step}: {result.checkpoint}")
            raise

    def _loader(self) -> torch.utils.data.DataLoader:
        self.dataset.epoch = self.position.epoch
        sampler = EpochSampler(
            len(self.dataset), self.config.seed, self.position.epoch, self.position.epoch_step, self.config.batch_size
        )
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            collate_fn=_collate,
            num_workers=self.config.num_workers,
            pin_memory=self.trainer.device.type == "cuda",
            generator=torch.Generator(),  # the loader's seed draw must not move torch's global generator
            persistent_workers=False,
        )

    def _epoch(self, advance, result: RunResult) -> RunResult | None:
        self.trainer.model.train(self.config.dropout)
        if self.config.max_steps and self.position.step >= self.config.max_steps:
            result.status = "stopped"
            return result
        for collated, reasons in self._loader():
            for reason in reasons:
                self.warn(f"skipped a sample: {reason}")
            self.position.skipped += len(reasons)
            if collated is None:
                self.position.epoch_step += 1
                continue
            batch = self._tokenised(collated).to(self.trainer.device)
            started = time.perf_counter()
            with deferred_signals(lambda: self.note("finishing the current step, then saving (again to abort)")) as sig:
                step = self.trainer(batch)
                self.position.epoch_step += 1
                self.position.step += 1
                self.position.epoch_loss += step.total_loss
            result.last = {"loss": step.total_loss, "losses": step.losses, "grad_norm": step.grad_norm, "lr": step.lr}
            if self.position.step % self.config.log_every == 0:
                self.log(
                    {
                        "event": "step",
                        "step": self.position.step,
                        "epoch": self.position.epoch,
                        **result.last,
                        "seconds": round(time.perf_counter() - started, 4),
                        "skipped": self.position.skipped,
                    }
                )
            advance(1)
            if sig:
                raise KeyboardInterrupt if sig[0] == signal.SIGINT else Interrupted(sig[0])
            if self.config.max_steps and self.position.step >= self.config.max_steps:
                result.status, result.checkpoint = "stopped", self.save() if distributed.is_main() else None
                return result
        return None

    def _tokenised(self, batch: Batch) -> Batch:
        batch.input_ids, batch.attention_mask, _ = self.tokenizer.encode(batch.texts)
        return batch

    def _end_epoch(self) -> dict:
        """Validation, then (never cut in half) the learning-rate schedule, the epoch record and its checkpoint."""
        metrics = self.validate() if self.config.validate else {}
        with deferred_signals(lambda: None) as sig:
            self.trainer.scheduler.step()
            record = {
                "event": "epoch",
                "epoch": self.position.epoch,
                "step": self.position.step,
                "epoch_loss": self.position.epoch_loss,
                "skipped": self.position.skipped,
                "validation": metrics,
            }
            score = metrics.get("mAP 0.5:0.95")
            if score is not None and (self.position.best is None or score > self.position.best):
                self.position.best = score
            self.position.epoch += 1
            self.position.epoch_step = 0
            self.position.epoch_loss = 0.0
            if distributed.is_main():
                record["checkpoint"] = str(self.save(epoch_end=True))
            distributed.barrier()
        self.log(record)
        if sig:
            raise KeyboardInterrupt if sig[0] == signal.SIGINT else Interrupted(sig[0])
        return metrics


def log_writer(path: Path, echo: Callable[[dict], None] | None) -> Callable[[dict], None]:
    """A JSON line per record appended to `path` (flushed each time), the record also given to `echo`."""

    def log(record: dict) -> None:
        if not distributed.is_main():
            return
        line = json.dumps(record, default=float)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if echo is not None:
            echo(record)

    return log
