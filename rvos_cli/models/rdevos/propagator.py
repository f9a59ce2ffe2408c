"""RDE-VOS on one video: frames and label maps in the original ids in, label maps out.

The per-video state of the YouTube-VOS evaluation lives here: the object ids and their order,
the processing size, normalisation and resizing (bicubic frames, nearest masks), and the
bilinear resize of the probabilities back to the frame size before the arg-max. All of it runs
on the model's device: a frame goes there as uint8 and only the label map comes back.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from rvos_cli.errors import InputError
from rvos_cli.models.common.frames import normalize_video
from rvos_cli.models.rdevos.inference import RDETracker
from rvos_cli.models.rdevos.network import RDEVOS
from rvos_cli.models.rdevos.preprocess import (
    processing_size,
    resize_image,
    resize_labels,
    resize_probs,
    to_device,
)

# The YouTube-VOS evaluation's memory schedule, for a checkpoint whose registry entry does not say.
EVAL_DEFAULTS = {"mem_every": 4, "top_k": 20}


class RdevosPropagator:
    """`start(frame, labels)`, then `step(frame, new_labels=None) -> labels` per frame.

    frame [H, W, 3] uint8 RGB; labels [H, W] uint8 (0 = background). Objects in `new_labels` whose
    ids are not tracked yet join on that frame; ids already tracked there are ignored. `size` is
    the short side the network works at (0 = native); a smaller frame is upscaled to it only with
    `upscale`. `net` is on `device` already; the caller's precision policy (autocast) applies.
    """

    name = "rdevos"

    def __init__(
        self,
        net: RDEVOS,
        mem_every: int,
        top_k: int,
        size: int = 480,
        device: torch.device = torch.device("cpu"),
        upscale: bool = True,
    ):
        self.network = net
        self.mem_every, self.top_k, self.size, self.upscale = mem_every, top_k, size, upscale
        self.device = device
        self.ids: list[int] = []
        self.tracker: RDETracker | None = None

    @classmethod
    def from_options(cls, net: RDEVOS, options, device: torch.device, defaults: dict[str, Any]) -> RdevosPropagator:
        """The memory schedule of `options`, else of the weights entry (`defaults`), else the YouTube-VOS
        evaluation's."""
        schedule = {
            key: int(next(v for v in (getattr(options, key), defaults.get(key), EVAL_DEFAULTS[key]) if v is not None))
            for key in ("mem_every", "top_k")
        }
        return cls(net, size=options.size, upscale=options.upscale, device=device, **schedule)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        return processing_size(height, width, self.size, self.upscale)

    def settings(self) -> dict[str, Any]:
        return {"size": self.size, "mem_every": self.mem_every, "top_k": self.top_k}

    def compile(self, compile_stage: Callable[[Callable], Callable]) -> None:
        """Replace the network's per-frame stages by `compile_stage` of them (e.g. `torch.compile`): the
        encoders and the decoder keep their shapes for a video; the memory read-out, which grows, stays."""
        for stage in ("encode_key", "encode_value", "segment"):
            setattr(self.network, stage, compile_stage(getattr(self.network, stage)))

    def start(self, frame: np.ndarray, labels: np.ndarray, prompts=(), num_frames=None) -> None:
        _check_labels(labels, frame, "first-frame mask")
        ids = [int(i) for i in np.unique(labels) if i != 0]
        if not ids:
            raise InputError("the first-frame mask has no object (all pixels are 0); label objects with ids 1-255")
        self.output_size = frame.shape[:2]
        self.input_size = processing_size(*self.output_size, self.size, self.upscale)
        self.tracker = RDETracker(self.network, top_k=self.top_k, mem_every=self.mem_every)
        self.ids = []
        self._run(frame, labels, ids)

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None, prompts=()) -> np.ndarray:
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
        image = resize_image(normalize_video(to_device(frame, self.device)[None]), self.input_size)
        masks = None
        if new_ids:
            labels = resize_labels(torch.from_numpy(np.ascontiguousarray(labels)).to(self.device), self.input_size)
            masks = (labels[None] == torch.tensor(new_ids, device=self.device)[:, None, None]).float()[:, None]
            self.ids += new_ids
        return self.tracker.step(image, masks)


def _check_labels(labels: np.ndarray, frame: np.ndarray, what: str) -> None:
    if labels.shape != frame.shape[:2]:
        raise InputError(
            f"the {what} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
            f"{frame.shape[1]}x{frame.shape[0]}; give a mask of the frame size"
        )
