"""Two toy models added from outside the package, through the model registry alone (docs/architecture.md,
"Adding a model"): a propagation model with an official-format checkpoint, one with a Hugging Face style
model folder, and a windowed referring model. Each records the precision flags in force when it runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from rvos_cli.models.checkpoint import load_official
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.options import ReferModelOptions, WeightsOptions
from rvos_cli.models.referring import WindowedReferrer
from rvos_cli.models.registry import ModelSpec

SEEN: list[tuple] = []  # the precision flags each model call found


def flags() -> tuple:
    return (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.is_autocast_enabled("cpu"),
        torch.is_grad_enabled(),
    )


class Gain(torch.nn.Module):
    """One parameter: the object id offset the toy propagator adds (0 keeps the ids)."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.zeros(1))


def toy_layout(variant: str | None = None) -> CheckpointLayout:
    return CheckpointLayout("toyprop", variant or "v1", {"gain": (1,)}, title="Toy")


def load_toy(source, variant: str | None = None) -> Gain:
    return load_official(source, lambda state, origin: toy_layout(), lambda layout: Gain())


def load_toy_folder(source, variant: str | None = None) -> Gain:
    """A Hugging Face style folder: config.json ({"offset": N}) and model.safetensors."""
    if isinstance(source, dict):  # random weights: the config itself
        config, state = source, {"gain": torch.zeros(1)}
    else:
        config = json.loads((Path(source) / "config.json").read_text())
        state = load_file(str(Path(source) / "model.safetensors"))
    model = Gain()
    model.load_state_dict(state)
    model.offset = int(config.get("offset", 0))
    return model.eval()


def write_toy_folder(folder: Path, offset: int = 0, gain: float = 0.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"offset": offset}))
    save_file({"gain": torch.full((1,), gain)}, str(folder / "model.safetensors"))
    return folder


@dataclass(frozen=True)
class ToyOptions(WeightsOptions):
    model: ClassVar[str] = "toyprop"
    shift: int = 0


@dataclass(frozen=True)
class ToyFolderOptions(WeightsOptions):
    model: ClassVar[str] = "toyhf"


class ToyPropagator:
    """Every frame gets the first frame's labels plus the network's gain and offset, rolled by `shift` columns."""

    name = "toyprop"

    def __init__(self, network: Gain, shift: int = 0):
        self.network, self.shift = network, shift
        self.labels: np.ndarray | None = None

    @classmethod
    def from_options(cls, network, options, **context):
        return cls(network, getattr(options, "shift", 0))

    def start(self, frame, labels, prompts=(), num_frames=None):
        SEEN.append(flags())
        offset = int(self.network.gain.item()) + getattr(self.network, "offset", 0)
        self.labels = np.where(labels > 0, labels + offset, 0).astype(np.uint8)
        return self.labels

    def step(self, frame, new_labels=None, prompts=()):
        SEEN.append(flags())
        return np.roll(self.labels, self.shift, axis=1)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def settings(self) -> dict[str, Any]:
        return {"shift": self.shift}


@dataclass(frozen=True)
class ToyReferOptions(ReferModelOptions):
    model: ClassVar[str] = "toyrefer"
    default_window: ClassVar[int] = 5


class ToyReferrer(WindowedReferrer):
    """Query q: the left (q even) or right (q odd) half of every frame, score 1 - q / 10."""

    name = "toyrefer"

    def encode(self, video):
        SEEN.append(flags())
        return video.shape[0]

    def decode(self, frames, input_ids, attention_mask):
        SEEN.append(flags())
        return {"frames": frames, "queries": input_ids.shape[0]}

    def select(self, out, input_size, original_size):
        queries, frames = out["queries"], out["frames"]
        masks = torch.zeros(queries, frames, *original_size, dtype=torch.uint8)
        half = original_size[1] // 2
        for q in range(queries):
            masks[q, :, :, half:] = 1 if q % 2 else 0
            masks[q, :, :, :half] = 0 if q % 2 else 1
        scores = torch.tensor([[1 - q / 10] for q in range(queries)])
        return masks, scores, torch.zeros(queries, dtype=torch.long)


SPECS = (
    ModelSpec(
        "toyprop",
        "Toy",
        "propagate",
        "a toy propagator",
        ToyOptions,
        ToyPropagator,
        load=load_toy,
        layout=toy_layout,
        variants=("v1",),
    ),
    ModelSpec(
        "toyhf",
        "Toy HF",
        "propagate",
        "a toy propagator in a model folder",
        ToyFolderOptions,
        "toy_models:ToyPropagator",
        weights="hf",
        load="toy_models:load_toy_folder",
        random=lambda variant: {"offset": 0},
    ),
    ModelSpec(
        "toyrefer",
        "Toy referrer",
        "refer",
        "a toy referring model",
        ToyReferOptions,
        ToyReferrer,
        load=lambda source, variant=None: load_toy(source),
        layout=toy_layout,
        tokenizer="roberta-base",
    ),
)


class ToyWindowReferrer(ToyReferrer):
    """Window k picks the left half of the frame (k even) or the right half (k odd), with a per-frame
    score that peaks in the middle of the first window: without tracking, the referred object changes
    between windows; a tracker seeded at the best frame keeps the left half."""

    name = "toywin"

    def __init__(self, network, size=360, max_size=640):
        super().__init__(network, size, max_size)
        self.windows = 0

    def encode(self, video):
        self.windows += 1
        return video.shape[0], self.windows - 1

    def decode(self, features, input_ids, attention_mask):
        frames, window = features
        return {"frames": frames, "window": window, "queries": input_ids.shape[0]}

    def select(self, out, input_size, original_size):
        queries, frames = out["queries"], out["frames"]
        masks = torch.zeros(queries, frames, *original_size, dtype=torch.uint8)
        half = original_size[1] // 2
        if out["window"] % 2:
            masks[..., half:] = 1
        else:
            masks[..., :half] = 1
        return (
            masks,
            torch.full((queries, 1), 0.9 if out["window"] == 0 else 0.5),
            torch.zeros(queries, dtype=torch.long),
        )

    def frame_scores(self, out, selected):
        frames, peak = out["frames"], 0.9 if out["window"] == 0 else 0.5
        scores = torch.full((out["queries"], frames), peak - 0.1)
        scores[:, frames // 2] = peak
        return scores


class ToyTracker(ToyPropagator):
    """A tracker that keeps each object's seed mask unchanged; objects given by their own masks."""

    name = "toytrack"

    def start(self, frame, labels, prompts=(), num_frames=None):
        self.objects = {}
        return self.step(frame, labels, prompts)

    def step(self, frame, new_labels=None, prompts=()):
        SEEN.append(flags())
        self.objects.update({p.object_id: p.mask for p in prompts if p.object_id not in self.objects})
        labels = np.zeros(frame.shape[:2], np.uint8)
        for object_id, mask in sorted(self.objects.items()):
            labels[mask] = object_id
        return labels

    def object_masks(self):
        return dict(self.objects)


@dataclass(frozen=True)
class ToyWinOptions(ToyReferOptions):
    model: ClassVar[str] = "toywin"


@dataclass(frozen=True)
class ToyTrackOptions(WeightsOptions):
    model: ClassVar[str] = "toytrack"


TRACKING = (
    ModelSpec(
        "toywin",
        "Toy windows",
        "refer",
        "a toy referring model whose windows disagree",
        ToyWinOptions,
        ToyWindowReferrer,
        load=lambda source, variant=None: load_toy(source),
        layout=toy_layout,
        tokenizer="roberta-base",
    ),
    ModelSpec(
        "toytrack",
        "Toy tracker",
        "propagate",
        "a tracker that holds still",
        ToyTrackOptions,
        ToyTracker,
        weights="hf",
        load="toy_models:load_toy_folder",
        random=lambda variant: {"offset": 0},
        prompts=("mask",),
    ),
)
