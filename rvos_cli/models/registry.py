"""Which models exist and what each needs: the one place the glue asks.

A `ModelSpec` names a model's task, its typed options, its weights format and the hooks that load
it, wrap it for its task and draw random weights for `rvos bench`. The pipelines, the CLI, the
Python API and the weights installer read the spec and name no model. Hooks may be written
"package.module:attribute": they are imported on first use, so reading the registry imports no
model code and no torch (`rvos propagate --model flow` never imports torch).

Adding a model: a package under `rvos_cli/models/` and one `ModelSpec` below (or `register` from
outside, as the tests do); see docs/architecture.md, "Adding a model".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from rvos_cli.errors import InputError
from rvos_cli.models.flow.options import FlowOptions
from rvos_cli.models.mttr.options import MttrOptions
from rvos_cli.models.rdevos.options import RdevosOptions
from rvos_cli.models.referformer.options import ReferFormerOptions
from rvos_cli.models.sam2.options import Sam2Options, Sam3TrackerOptions
from rvos_cli.models.soc.options import SocOptions

TASKS = ("refer", "propagate")
# official: a published checkpoint file, checked against the model's layout and converted to
# safetensors on install; hf: a Hugging Face model folder (config.json, safetensors shards, processor
# files) loaded with `from_pretrained(folder, local_files_only=True)`; none: no weights at all.
WEIGHT_FORMATS = ("official", "hf", "none")
DEVICES = ("cpu", "cuda", "mps")

Hook = str | Callable[..., Any]


class Lazy:
    """A callable (or class) named "package.module:attribute", imported when first used."""

    def __init__(self, reference: str):
        self.reference = reference
        self._target: Any = None

    def resolve(self) -> Any:
        if self._target is None:
            module, _, attribute = self.reference.partition(":")
            self._target = getattr(importlib.import_module(module), attribute)
        return self._target

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    def __repr__(self) -> str:
        return f"Lazy({self.reference!r})"


@dataclass(frozen=True)
class ModelSpec:
    """A model as the glue sees it.

    name: what `--model` takes; title: what messages call it; task: refer or propagate; summary: a few
    words for help texts. options: its options dataclass (`rvos_cli.models.options`), whose fields are
    the flags it takes. adapter: the class wrapping the network for its task, built by
    `adapter.from_options(network, options, device=..., defaults=...)` (a `ReferringModel` or a
    `PropagationModel`). weights: official, hf or none (WEIGHT_FORMATS). load(source, variant) ->
    the network in eval mode on the CPU, from a checkpoint file, a model folder or a state dict.
    layout(variant) / layout_of(state, origin): the official checkpoint layout (official weights).
    random(variant) -> a source `load` takes, with random weights, for `rvos bench` without a download
    (default: `random_state_dict(layout(variant))`). variants: the published backbones or sizes,
    default first, as a user types them. tokenizer: the registry entry with a text model's tokenizer
    files. auto: device type -> priority under `--model auto` (higher first; absent: never picked);
    prefer_small_on: device types where `--model auto` takes the model's smallest installed weights.
    devices: where it runs; torch: whether it needs torch at all; prompts: what a propagation model
    takes besides label maps: box, point, and mask (an object by its own mask, overlapping others:
    what `rvos refer --track` seeds it with). hidden: left out of help texts and listings (bench's no-op model).
    """

    name: str
    title: str
    task: str
    summary: str
    options: type
    adapter: Hook
    weights: str = "official"
    load: Hook | None = None
    layout: Hook | None = None
    layout_of: Hook | None = None
    random: Hook | None = None
    variants: tuple[str, ...] = ()
    tokenizer: str | None = None
    auto: Mapping[str, int] = field(default_factory=dict)
    prefer_small_on: tuple[str, ...] = ()
    devices: tuple[str, ...] = DEVICES
    torch: bool = True
    prompts: tuple[str, ...] = ()
    hidden: bool = False

    def __post_init__(self):
        if self.task not in TASKS or self.weights not in WEIGHT_FORMATS:
            raise ValueError(f"model {self.name}: task must be one of {TASKS}, weights one of {WEIGHT_FORMATS}")
        if self.weights != "none" and self.load is None:
            raise ValueError(f"model {self.name}: a model with weights needs `load`")
        for hook in ("adapter", "load", "layout", "layout_of", "random"):
            if isinstance(getattr(self, hook), str):
                object.__setattr__(self, hook, Lazy(getattr(self, hook)))

    def variant(self, name: str | None) -> str:
        """A backbone or size as the user spelled it -> its canonical name (None: the default).

        Official spellings are accepted too: `video_swin_b_p4w7` is `video-swin-b`."""
        if name is None:
            return self.variants[0]
        spelled = name.lower().replace("_", "-").removesuffix("-p4w7")
        if spelled not in self.variants:
            choices = ", ".join(self.variants) or "none"
            raise InputError(f"{self.title} has no backbone {name!r}; use one of: {choices}")
        return spelled

    def layout_for(self, state: Mapping[str, Any], origin: str = "checkpoint"):
        """The official layout whose keys and shapes `state` has."""
        if self.layout_of is not None:
            return self.layout_of(state, origin)
        return self.layout(self.variants[0])


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add (or replace) a model; the CLI, the API and bench find it by name from then on."""
    MODELS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    MODELS.pop(name, None)


def model_spec(name: str, task: str | None = None) -> ModelSpec:
    """The model called `name` (of `task`, if given); InputError naming the choices otherwise."""
    spec = MODELS.get(name)
    if spec is None or (task is not None and spec.task != task):
        choices = ", ".join(s.name for s in models(task)) if task else ", ".join(s.name for s in models())
        where = f"`rvos {task}` takes" if task else "use one of"
        raise InputError(f"unknown --model {name!r}; {where}: {choices}")
    return spec


def title_of(name: str) -> str:
    """What messages call model `name` (itself, for a model outside the registry such as bench's no-op)."""
    return MODELS[name].title if name in MODELS else name


def models(task: str | None = None, hidden: bool = False) -> list[ModelSpec]:
    """The models of `task` (all tasks: None), in registry order; hidden ones only when asked."""
    return [s for s in MODELS.values() if (task is None or s.task == task) and (hidden or not s.hidden)]


def model_list(task: str) -> str:
    """'mttr, referformer or soc': the models of `task` for help texts."""
    names = [s.name for s in models(task)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


for _spec in (
    ModelSpec(
        "mttr",
        "MTTR",
        "refer",
        "MTTR (Video Swin-T, CVPR 2022)",
        MttrOptions,
        "rvos_cli.models.mttr.referrer:MttrReferrer",
        load="rvos_cli.models.mttr.checkpoint:load_mttr",
        layout="rvos_cli.models.mttr.layout:layout",
        variants=("video-swin-t",),
        tokenizer="roberta-base",
    ),
    ModelSpec(
        "referformer",
        "ReferFormer",
        "refer",
        "ReferFormer (ResNet, Swin or Video Swin, CVPR 2022)",
        ReferFormerOptions,
        "rvos_cli.models.referformer.referrer:ReferFormerReferrer",
        load="rvos_cli.models.referformer.checkpoint:load_referformer",
        layout="rvos_cli.models.referformer.layout:layout",
        layout_of="rvos_cli.models.referformer.layout:layout_of",
        variants=("video-swin-t", "video-swin-s", "video-swin-b", "swin-t", "swin-l", "resnet50", "resnet101"),
        tokenizer="roberta-base",
    ),
    ModelSpec(
        "soc",
        "SOC",
        "refer",
        "SOC (Video Swin-T or -B, NeurIPS 2023)",
        SocOptions,
        "rvos_cli.models.soc.referrer:SocReferrer",
        load="rvos_cli.models.soc.checkpoint:load_soc",
        layout="rvos_cli.models.soc.layout:layout",
        layout_of="rvos_cli.models.soc.checkpoint:soc_layout_of",
        variants=("video-swin-t", "video-swin-b"),
        tokenizer="roberta-base",
    ),
    ModelSpec(
        "sam3-tracker",
        "SAM 3 tracker",
        "propagate",
        "SAM 3's tracker (transformers; gated weights)",
        Sam3TrackerOptions,
        "rvos_cli.models.sam2.propagator:Sam2Propagator",
        weights="hf",
        load="rvos_cli.models.sam2.loader:load_network",
        random="rvos_cli.models.sam2.configs:config_for",
        variants=("sam3",),
        auto={"cuda": 40, "mps": 40, "cpu": 30},
        prompts=("box", "point", "mask"),
    ),
    ModelSpec(
        "sam2",
        "SAM 2.1",
        "propagate",
        "SAM 2.1 (Hiera tiny to large, transformers)",
        Sam2Options,
        "rvos_cli.models.sam2.propagator:Sam2Propagator",
        weights="hf",
        load="rvos_cli.models.sam2.loader:load_network",
        random="rvos_cli.models.sam2.configs:config_for",
        variants=("hiera-tiny", "hiera-small", "hiera-base-plus", "hiera-large"),
        auto={"cuda": 30, "mps": 30, "cpu": 40},
        prefer_small_on=("cpu", "mps"),
        prompts=("box", "point", "mask"),
    ),
    ModelSpec(
        "rdevos",
        "RDE-VOS",
        "propagate",
        "RDE-VOS (ResNet-50, CVPR 2022)",
        RdevosOptions,
        "rvos_cli.models.rdevos.propagator:RdevosPropagator",
        load="rvos_cli.models.rdevos.checkpoint:load_rdevos",
        layout="rvos_cli.models.rdevos.layout:layout",
        variants=("resnet50",),
        auto={"cuda": 20, "mps": 20, "cpu": 20},
    ),
    ModelSpec(
        "flow",
        "flow",
        "propagate",
        "optical flow, no weights",
        FlowOptions,
        "rvos_cli.models.flow.propagator:FlowPropagator",
        weights="none",
        auto={"cuda": 0, "mps": 0, "cpu": 0},
        devices=("cpu",),
        torch=False,
    ),
):
    register(_spec)
