"""A run folder's checkpoints, written atomically in the original trainer's layout.

RUN_DIR/checkpoints/NN.pth.tar after epoch NN and RUN_DIR/checkpoints/last.pth.tar (the latest, also
after --max-steps or an interrupt) hold {epoch, total_epochs, model_state_dict (the official names),
optimizer_state_dict, scheduler_state_dict, grad_scaler_state_dict, best_mAP or best_loss} as
`trainer.save_checkpoint` writes them, plus "rvos" (the configuration, the position in the run and the
random generators' states) for resuming. RUN_DIR/model.safetensors holds the latest weights, which
`rvos refer --checkpoint` loads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from rvos_cli.atomic import atomic_file
from rvos_cli.errors import InputError
from rvos_cli.models.checkpoint import TRAINER_GLOBALS
from rvos_cli.models.registry import MODELS
from rvos_cli.train.config import TrainConfig
from rvos_cli.train.recipe import official_state_dict

FORMAT = 1
KEEP_EPOCHS = 15  # the original keeps its last 15 checkpoint files


class RunCheckpoints:
    def __init__(self, run_dir: Path, config: TrainConfig):
        self.run_dir, self.config = run_dir, config
        self.folder = run_dir / "checkpoints"

    @property
    def last(self) -> Path:
        return self.folder / "last.pth.tar"

    def save(self, trainer, position, extra: dict, epoch_end: bool) -> Path:
        """Write last.pth.tar (and NN.pth.tar at an epoch's end) and model.safetensors; returns the file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        weights = official_state_dict(self.config.model, trainer.network)
        state = {
            "epoch": position.epoch - 1,  # the last finished epoch: the original resumes at epoch + 1
            "total_epochs": self.config.epochs,
            "model_state_dict": weights,
            **trainer.state_dict(),
            ("best_mAP" if position.best is not None else "best_loss"): position.best
            if position.best is not None
            else float("inf"),
            "rvos": {"format": FORMAT, "model": self.config.model, "config": self.config.to_json(), **extra},
        }
        target = self.folder / f"{position.epoch - 1:02d}.pth.tar" if epoch_end else self.last
        with atomic_file(target) as tmp:
            torch.save(state, tmp)
        if epoch_end:
            with atomic_file(self.last) as tmp:
                _link_or_copy(target, tmp)
            self._prune()
        self.write_safetensors(weights)
        return target

    def write_safetensors(self, weights: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save_file

        with atomic_file(self.run_dir / "model.safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp), metadata={"model": self.config.model})

    def _prune(self) -> None:
        epochs = sorted(p for p in self.folder.glob("[0-9]*.pth.tar"))
        for old in epochs[:-KEEP_EPOCHS]:
            old.unlink(missing_ok=True)

    def load(self) -> dict:
        """The latest checkpoint of the run, checked to be of this model and configuration."""
        if not self.last.is_file():
            raise InputError(f"--resume {self.run_dir} has no checkpoints/last.pth.tar; pass the folder of an rvos run")
        try:
            with torch.serialization.safe_globals(TRAINER_GLOBALS):
                state = torch.load(self.last, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"{self.last} cannot be read ({str(exc)[:120]}); resume from another run") from None
        meta = state.get("rvos") if isinstance(state, dict) else None
        if not meta or meta.get("format") != FORMAT:
            raise InputError(f"{self.last} was not written by `rvos train`; pass the folder of an rvos run")
        if meta["model"] != self.config.model:
            raise InputError(
                f"--resume {self.run_dir} trained {meta['model']}, not {self.config.model}; resume with --model "
                f"{meta['model']} or start a new run folder"
            )
        saved = TrainConfig.from_json(meta["config"])
        differences = self.config.differences(saved)
        if differences:
            raise InputError(
                f"--resume {self.run_dir} was started with another configuration ({'; '.join(differences[:4])}); "
                "resume with the same settings or start a new run folder"
            )
        return state


def load_network_state(network, model: str, state: dict) -> None:
    """Adopt a checkpoint's official-layout weights."""
    layout = MODELS[model].layout(MODELS[model].variants[0])
    layout.check(state["model_state_dict"], "checkpoint")
    network.load_state_dict(layout.kept(state["model_state_dict"]), strict=True)


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
