"""`rvos train`: fine-tune a referring model on a dataset root, as its original trainer does.

validate the options -> the run folder (new, or --resume) -> the dataset's samples -> weights and
tokenizer -> the loop (rvos_cli/train/loop.py) -> a summary. A torchrun launch trains on every GPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rvos_cli.atomic import atomic_file
from rvos_cli.errors import InputError
from rvos_cli.models.registry import MODELS
from rvos_cli.models.tokenizer import RobertaTokenizer
from rvos_cli.pipelines.device import resolve_device, tf32_enabled
from rvos_cli.train import distributed
from rvos_cli.train.checkpoint import RunCheckpoints, load_network_state
from rvos_cli.train.config import DATASET_DEFAULTS, TrainConfig
from rvos_cli.train.datasets import TITLES, ReferringDataset, detect
from rvos_cli.train.loop import TrainingRun, log_writer
from rvos_cli.train.optim import OptimConfig
from rvos_cli.train.recipe import LossConfig, recipe
from rvos_cli.train.runtime import train_precision
from rvos_cli.train.step import TrainStep
from rvos_cli.train.transforms import Transforms
from rvos_cli.train.validate import validate
from rvos_cli.weights.resolve import resolve_weights, tokenizer_folder

OPTIM_FIELDS = {f.name for f in dataclasses.fields(OptimConfig)}
LOSS_FIELDS = {f.name for f in dataclasses.fields(LossConfig)}


@dataclass(frozen=True)
class TrainRequest:
    """data: the dataset root (optional with `resume`); output: the new run folder; resume: a run folder to
    continue. overrides: the settings given on the command line (TrainConfig, OptimConfig and LossConfig
    field names), None meaning "the official value" (or, resuming, the run's)."""

    data: Path | None
    output: Path | None = None
    resume: Path | None = None
    model: str = "mttr"
    weights: str | None = None
    checkpoint: Path | None = None
    tokenizer: Path | None = None
    cache_dir: Path | None = None
    device: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None


@dataclass
class TrainSummary:
    status: str
    run_dir: Path
    steps: int
    epochs: int
    skipped: int
    seconds: float
    last: dict
    validation: dict
    checkpoint: Path | None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "summary",
            "status": self.status,
            "run_dir": str(self.run_dir),
            "steps": self.steps,
            "epochs": self.epochs,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 2),
            **self.last,
            "validation": self.validation,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "weights": str(self.run_dir / "model.safetensors"),
        }

    def human(self) -> str:
        loss = f", last loss {self.last['loss']:.4f}" if "loss" in self.last else ""
        metrics = "".join(f", {k} {v:.3f}" for k, v in self.validation.items() if k in ("mAP 0.5:0.95", "mean_iou"))
        return (
            f"{self.status}: {self.steps} steps, {self.epochs} epochs in {self.seconds:.0f} s{loss}{metrics}; "
            f"weights {self.run_dir / 'model.safetensors'}, checkpoint {self.checkpoint}"
            + (f"; {self.skipped} samples skipped" if self.skipped else "")
        )


def parse_milestones(text: str | None) -> tuple[int, ...] | None:
    """ "20" or "10,20" -> (10, 20); an InputError for anything else."""
    if text is None:
        return None
    try:
        milestones = tuple(sorted(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise InputError(f"--lr-milestones {text!r} is not a list of epochs; pass e.g. 20 or 10,20") from None
    if not milestones or milestones[0] < 1:
        raise InputError(f"--lr-milestones {text!r} must name epochs from 1 on")
    return milestones


def _config(request: TrainRequest, kind: str, saved: TrainConfig | None, precision: str) -> TrainConfig:
    given = {k: v for k, v in request.overrides.items() if v is not None}
    if saved is not None:
        base = saved
    else:
        defaults = DATASET_DEFAULTS[kind]
        base = TrainConfig(
            model=request.model,
            dataset=kind,
            weights="",
            window=defaults["window"],
            epochs=defaults["epochs"],
            batch_size=defaults["batch_size"],
            size=defaults["size"],
            max_size=defaults["max_size"],
            flip=defaults["flip"],
            precision=precision,
            optim=OptimConfig(lr_milestones=defaults["lr_milestones"]),
        )
        base = dataclasses.replace(base, weights=_weights_name(request))
    optim = dataclasses.replace(base.optim, **{k: v for k, v in given.items() if k in OPTIM_FIELDS})
    loss = dataclasses.replace(base.loss, **{k: v for k, v in given.items() if k in LOSS_FIELDS})
    top = {k: v for k, v in given.items() if k not in OPTIM_FIELDS | LOSS_FIELDS}
    if saved is None or "precision" in given:
        top["precision"] = precision
    top.setdefault("max_steps", None)  # a resumed run goes on to the end unless told otherwise
    return dataclasses.replace(base, optim=optim, loss=loss, **top)


def _weights_name(request: TrainRequest) -> str:
    if request.checkpoint is not None:
        return str(Path(request.checkpoint).resolve())
    return request.weights or "random"


def _run_dir(request: TrainRequest, data: Path) -> Path:
    if request.resume is not None:
        return request.resume
    run_dir = request.output or Path("runs") / time.strftime("%Y-%m-%d_%H-%M-%S")
    resolved, root = run_dir.resolve(), data.resolve()
    if resolved == root or root in resolved.parents:
        raise InputError(f"-o {run_dir} is inside the dataset {data}; write the run elsewhere")
    if (run_dir / "checkpoints").exists() or (run_dir / "config.json").exists():
        raise InputError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pass a new -o")
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"-o {run_dir} is a file; pass a folder for the run")
    return run_dir


def _saved(resume: Path | None) -> tuple[dict | None, TrainConfig | None]:
    if resume is None:
        return None, None
    path = resume / "config.json"
    if not path.is_file():
        raise InputError(f"--resume {resume} has no config.json; pass the folder of an rvos training run")
    try:
        record = json.loads(path.read_text())
        return record, TrainConfig.from_json(record["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not an rvos run configuration ({exc}); start a new run") from None


def run_train(request: TrainRequest, reporter) -> TrainSummary:
    threads = torch.get_num_threads()
    if request.threads is not None:
        if request.threads < 1:
            raise InputError(f"--threads must be at least 1, got {request.threads}")
        torch.set_num_threads(request.threads)
    try:
        return _run(request, reporter)
    finally:
        torch.set_num_threads(threads)  # a caller in the same process keeps its setting


def _run(request: TrainRequest, reporter) -> TrainSummary:
    record, saved = _saved(request.resume)
    if saved is not None and saved.model != request.model:
        raise InputError(
            f"--resume {request.resume} trained {saved.model}, not {request.model}; resume with --model {saved.model}"
        )
    data = request.data or (Path(record["data"]) if record else None)
    if data is None:
        raise InputError("pass the dataset root DATA (or --resume RUN_DIR of a run)")
    train_recipe = recipe(request.model)
    reader = detect(data, reporter.warn)
    device = distributed.init(resolve_device(request.device))
    if not distributed.is_main():  # one voice: rank 0 reports; the others only warn
        reporter.json_mode, reporter.quiet, reporter.interactive = False, True, False
    precision = train_precision(request.overrides.get("precision") or "auto", device)
    config = _config(request, reader.kind, saved, precision)
    if saved is not None and config.dataset != saved.dataset:
        raise InputError(f"{data} is a {TITLES[reader.kind]} root but the run trained on {TITLES[saved.dataset]}")
    run_dir = _run_dir(request, data)
    checkpoints = RunCheckpoints(run_dir, config)
    resume_state = checkpoints.load() if request.resume is not None else None  # checks model and configuration
    distributed.barrier()  # every process checked the run folder before rank 0 writes to it

    train_refs = reader.samples("train", config.window, config.seed)
    if not train_refs:
        raise InputError(f"the train split of {data} has no samples (no expression whose object is in a window)")
    transforms = Transforms((config.size,), config.max_size, config.flip)
    dataset = ReferringDataset(reader, "train", train_refs, config.window, transforms, config.seed, train=True)
    val_dataset = None
    if config.validate and reader.has_split("valid"):
        val_refs = reader.samples("valid", config.window, config.seed)
        eval_transforms = Transforms((config.size,), config.max_size, flip=False)
        val_dataset = ReferringDataset(reader, "valid", val_refs, config.window, eval_transforms, config.seed, False)

    spec = MODELS[request.model]
    source = None
    if request.checkpoint is not None or request.weights is not None:
        resolved = resolve_weights(request.model, request.weights, request.checkpoint, request.tokenizer,
                                   spec.tokenizer, request.cache_dir)  # fmt: skip
        source, folder = resolved.source, resolved.tokenizer
    else:
        folder = tokenizer_folder(None, request.tokenizer, spec.tokenizer, request.cache_dir)
        if resume_state is None:
            reporter.note("no --weights or --checkpoint: starting from random weights (the official layout)")
    tokenizer = RobertaTokenizer(folder)
    network = train_recipe.network(source, config.seed).to(device)
    if resume_state is not None:
        load_network_state(network, request.model, resume_state)
    model = network
    if distributed.active():
        model = torch.nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None
        )
    torch.manual_seed(config.seed + distributed.rank())
    trainer = TrainStep(model, train_recipe.criterion(config.loss), config.optim, config.precision)

    if distributed.is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(run_dir / "config.json") as tmp:
            tmp.write_text(json.dumps({"data": str(data.resolve()), "config": config.to_json()}, indent=1))
    echo = reporter.item if reporter.json_mode else None
    plain = not reporter.json_mode and not reporter.quiet and not reporter.interactive
    log = log_writer(run_dir / "log.jsonl", echo)

    def log_and_print(entry: dict) -> None:
        log(entry)
        if plain and distributed.is_main():
            reporter.note(_plain_line(entry, run.total_steps()))

    def run_validation() -> dict:
        if val_dataset is None or not distributed.is_main():
            return {}
        with reporter.progress("validating", len(val_dataset)) as advance:
            return validate(network, val_dataset, tokenizer, config.precision, advance, reporter.warn)

    run = TrainingRun(
        config, trainer, dataset, tokenizer, checkpoints, log_and_print, reporter.warn, reporter.note, run_validation
    )
    if resume_state is not None:
        run.restore(resume_state)
    started = time.perf_counter()
    with tf32_enabled(config.precision == "tf32") if device.type == "cuda" else contextlib.nullcontext():
        with reporter.progress("training", run.total_steps()) as advance:
            advance(min(run.position.step, run.total_steps()))
            result = run.run(advance)
    distributed.barrier()
    return TrainSummary(
        result.status,
        run_dir,
        result.position.step,
        result.position.epoch,
        result.position.skipped,
        time.perf_counter() - started,
        result.last,
        result.validation,
        result.checkpoint,
    )


def _plain_line(entry: dict, total: int) -> str:
    if entry["event"] == "step":
        return (
            f"step {entry['step']}/{total} epoch {entry['epoch']} loss {entry['loss']:.4f} "
            f"grad_norm {entry['grad_norm']:.3g} lr {entry['lr']:.3g}"
        )
    metrics = " ".join(f"{k} {v:.4f}" for k, v in entry.get("validation", {}).items())
    return f"epoch {entry['epoch']} done at step {entry['step']}: loss {entry['epoch_loss']:.4f} {metrics}".strip()


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the loader's workers fork after the tokenizer ran
