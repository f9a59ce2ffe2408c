"""RDE-VOS as a `rvos propagate` model: frames and label maps in, label maps in the original ids out.

Frames are ImageNet-normalised, resized so the shorter side is `size` (bicubic on the normalised
image, masks nearest, as the reference YouTube-VOS evaluation does), and the per-object
probabilities are resized back (bilinear) before the arg-max. Memory stays a constant size.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from rvos_cli.errors import InputError
from rvos_cli.models.rdevos import RDETracker, load_rdevos
from rvos_cli.models.rdevos.preprocess import normalize, processing_size, resize_image, resize_labels, resize_probs
from rvos_cli.pipelines.device import autocast, resolve_device, resolve_precision
from rvos_cli.pipelines.propagate import installed_weights
from rvos_cli.weights import locate_checkpoint, registry_entry

# Used when no RDE-VOS weights are installed, so that the error names the command installing these.
DEFAULT_WEIGHTS = "rdevos-ytvos"
# The YouTube-VOS evaluation's settings, used when neither the options nor the weights' entry say.
FALLBACK_DEFAULTS = {"mem_every": 4, "top_k": 20}


def _weights_defaults(weights: str | None) -> dict[str, Any]:
    if weights is None:
        return {}
    entry = registry_entry(weights)
    if entry.model != "rdevos":
        raise InputError(f"weights '{weights}' are for model {entry['model']}, not rdevos; use rdevos-ytvos or rdevos-davis")
    return entry.defaults


def _check_labels(labels: np.ndarray, frame: np.ndarray, what: str) -> None:
    if labels.shape != frame.shape[:2]:
        raise InputError(f"the {what} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
                         f"{frame.shape[1]}x{frame.shape[0]}; give a mask of the frame size")


class RdevosPropagator:
    """Propagator protocol: `start(frame, labels)`, then `step(frame, new_labels=None) -> labels` per frame.

    frame HxWx3 uint8 RGB; labels HxW uint8 (0 = background). Objects in `new_labels` whose ids are
    not tracked yet join on that frame; ids already tracked there are ignored.
    """

    name = "rdevos"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        weights: str | None = None,
        size: int = 480,
        device: str = "auto",
        precision: str = "auto",
        mem_every: int | None = None,
        top_k: int | None = None,
    ):
        if size < 0:
            raise InputError(f"--size must be 0 (native) or a positive shorter side, got {size}")
        if checkpoint is None and weights is None:
            weights = next(iter(installed_weights("rdevos")), DEFAULT_WEIGHTS)
        defaults = {**FALLBACK_DEFAULTS, **_weights_defaults(weights)}
        self.mem_every = int(defaults["mem_every"]) if mem_every is None else mem_every
        self.top_k = int(defaults["top_k"]) if top_k is None else top_k
        if self.mem_every < 1 or self.top_k < 1:
            raise InputError("--mem-every and --top-k must be positive")
        path = checkpoint if checkpoint is not None else locate_checkpoint(weights)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.net = load_rdevos(path).to(self.device)
        self.size = size
        self.ids: list[int] = []
        self.tracker: RDETracker | None = None

    def options(self) -> dict[str, Any]:
        """The settings in effect, for the run summary."""
        return {"size": self.size, "mem_every": self.mem_every, "top_k": self.top_k,
                "device": str(self.device), "precision": self.precision}

    def start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        _check_labels(labels, frame, "first-frame mask")
        ids = [int(i) for i in np.unique(labels) if i != 0]
        if not ids:
            raise InputError("the first-frame mask has no object (all pixels are 0); label objects with ids 1-255")
        self.output_size = frame.shape[:2]
        self.input_size = processing_size(*self.output_size, self.size)
        self.tracker = RDETracker(self.net, top_k=self.top_k, mem_every=self.mem_every)
        self.ids = []
        self._run(frame, labels, ids)

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None) -> np.ndarray:
        if self.tracker is None:
            raise RuntimeError("start() must be called before step()")
        new_ids = []
        if new_labels is not None:
            _check_labels(new_labels, frame, "mask")
            new_ids = [int(i) for i in np.unique(new_labels) if i != 0 and int(i) not in self.ids]
        probs = self._run(frame, new_labels, new_ids)
        probs = resize_probs(probs.float(), self.output_size)
        lut = torch.tensor([0, *self.ids], dtype=torch.uint8, device=probs.device)
        return lut[probs.argmax(0)].cpu().numpy()

    @torch.inference_mode()
    def _run(self, frame: np.ndarray, labels: np.ndarray | None, new_ids: list[int]) -> torch.Tensor:
        image = resize_image(normalize(frame).to(self.device), self.input_size)
        masks = None
        if new_ids:
            labels = resize_labels(torch.from_numpy(np.ascontiguousarray(labels)).to(self.device), self.input_size)
            masks = (labels[None] == torch.tensor(new_ids, device=self.device)[:, None, None]).float()[:, None]
            self.ids += new_ids
        with autocast(self.device, self.precision):
            return self.tracker.step(image, masks)
