"""Typed options of the runtime, the windows and the clip, and the models' options from flags,
checked before any work.

Nothing here imports torch (but to find the device `--model auto` picks for), so a bad value is
exit 2 in a fraction of a second, before any decoding or weights lookup. An option that does not
apply to the chosen model is an error rather than being dropped. Each model's options type is its
own (`rvos_cli/models/<model>/options.py`, named by the model registry).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rvos_cli.errors import InputError
from rvos_cli.models.options import ModelOptions, ReferModelOptions
from rvos_cli.models.registry import MODELS, ModelSpec, model_spec, models

PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class RuntimeOptions:
    """device: auto, cpu, cuda, cuda:N or mps. precision: auto (bf16 on CUDA, fp32 elsewhere), fp32 (real
    float32: TF32 off on CUDA), tf32 (float32 with TF32 matmuls and convolutions on CUDA; fp32 elsewhere),
    bf16, fp16. compile: `torch.compile` the network's fixed-shape stages (a learned model only)."""

    device: str = "auto"
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self):
        object.__setattr__(self, "device", self.device.lower())
        object.__setattr__(self, "precision", self.precision.lower())
        if not DEVICE.match(self.device):
            raise InputError(f"unknown --device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown --precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")


# Where weights live rather than which: every command takes them, a model without weights ignores them.
AMBIENT = ("cache_dir", "registry")


def model_options(
    spec: ModelSpec, given: dict[str, Any], runtime: RuntimeOptions = RuntimeOptions(), reason: str = ""
) -> ModelOptions:
    """The options of model `spec` from the flags that were given (None: not given). A flag the model
    does not take is refused, naming the models that take it; so is a device or precision it cannot run."""
    taken = {f.name for f in fields(spec.options)}
    given = {k: v for k, v in given.items() if v is not None and (k in taken or k not in AMBIENT)}
    for name in given:
        if name not in taken:
            flag = "--" + name.replace("_", "-")
            others = [s.name for s in models(spec.task) if name in {f.name for f in fields(s.options)}]
            instead = f" or use --model {' / '.join(others)}" if others else ""
            raise InputError(f"{flag} does not apply to --model {spec.name}; drop {flag}{instead}")
    _check_runtime(spec, runtime)
    options = spec.options.from_flags(given)
    return dataclasses.replace(options, reason=reason) if reason else options


def _check_runtime(spec: ModelSpec, runtime: RuntimeOptions) -> None:
    device = runtime.device.split(":")[0]
    if device != "auto" and device not in spec.devices:
        where = " or ".join({"cpu": "the CPU", "cuda": "CUDA GPUs", "mps": "MPS"}[d] for d in spec.devices)
        raise InputError(f"--model {spec.name} runs on {where} only, not {runtime.device}; drop --device")
    if not spec.torch:
        if runtime.precision not in ("auto", "fp32"):
            raise InputError(f"--model {spec.name} computes in float32; drop --precision")
        if runtime.compile:
            raise InputError(f"--compile is for learned models but --model {spec.name} has no network; drop --compile")


def refer_options(model: str | None = None, weights: str | None = None, **given) -> ReferModelOptions:
    """The options of `rvos refer`: the model is `model`, else that of the `weights` entry, else the
    first referring model of the registry (MTTR)."""
    if model is None:
        model = (
            _model_of_weights(weights, "refer", given.get("registry"), given.get("cache_dir"))
            if weights
            else models("refer")[0].name
        )
    return model_options(model_spec(model, "refer"), {"weights": weights, **given})


def propagate_options(
    model: str = "auto",
    runtime: RuntimeOptions = RuntimeOptions(),
    installed: dict[str, list[str]] | None = None,
    prompts: tuple[str, ...] = (),
    **given,
) -> ModelOptions:
    """The options of `rvos propagate --model ...`. `auto` picks a model (see `pick_propagator`) that
    takes the kinds of `prompts` given (box, point); `installed` (model -> installed entry names)
    stands for the cache in tests."""
    reason = ""
    if model == "auto":
        given_now = {k: v for k, v in given.items() if v is not None}
        model, weights, reason = pick_propagator(runtime, given_now, installed, prompts)
        given = {**given, "weights": given.get("weights") or weights}
    return model_options(model_spec(model, "propagate"), given, runtime, reason)


def pick_propagator(
    runtime: RuntimeOptions,
    given: dict[str, Any],
    installed: dict[str, list[str]] | None = None,
    prompts: tuple[str, ...] = (),
) -> tuple[str, str | None, str]:
    """(model, weights entry or None, why) for `--model auto`.

    The weights of --weights decide. Otherwise the candidates are the models that take every flag and
    prompt given (a --checkpoint folder: Hugging Face models; a file: official checkpoints) and have their
    weights installed (or need none, or --checkpoint is given); the one with the highest priority for
    the device wins (`ModelSpec.auto`), with its first installed weights in registry order (the
    registry lists a model's sizes largest first), or its last on devices where the model is slow
    (`ModelSpec.prefer_small_on`)."""
    if given.get("weights"):
        name = given["weights"]
        model = _model_of_weights(name, "propagate", given.get("registry"), given.get("cache_dir"))
        return model, None, f"--weights {name} is for it"
    checkpoint = given.get("checkpoint")
    chosen = set(given) - set(AMBIENT)  # the flags that say something about the model
    candidates = []
    for spec in models("propagate"):
        if (
            not spec.auto
            or not chosen <= {f.name for f in fields(spec.options)}
            or not set(prompts) <= set(spec.prompts)
        ):
            continue
        if checkpoint is not None:
            if spec.weights == ("hf" if Path(checkpoint).is_dir() else "official"):
                candidates.append((spec, []))
            continue
        names = [] if spec.weights == "none" else _installed(spec.name, given, installed)
        if spec.weights == "none" or names or chosen or prompts:
            candidates.append((spec, names))
    if not candidates:
        raise InputError("no propagation model takes these options together; name one with --model")
    learned = [c for c in candidates if c[0].weights != "none"]
    device = _device_type(runtime) if learned else "cpu"
    spec, names = max(candidates, key=lambda c: c[0].auto.get(device, -1))
    if spec.weights == "none":
        return spec.name, None, f"--model auto picked {spec.name} because no learned propagator's weights are installed"
    if checkpoint is not None or not names:
        flag = (
            "--checkpoint" if checkpoint is not None else "--" + (sorted(chosen) or list(prompts))[0].replace("_", "-")
        )
        return spec.name, None, f"--model auto picked {spec.name} because {flag} was given"
    small = device in spec.prefer_small_on
    pick = names[-1] if small else names[0]
    why = f"its weights are installed ({', '.join(names)})"
    if len(names) > 1:
        why += f"; using {pick}" + (
            f", the smallest: larger ones run many times slower on the {device}" if small else ""
        )
    return spec.name, pick, f"--model auto picked {spec.name} because {why}"


def track_options(
    name: str | None, runtime: RuntimeOptions = RuntimeOptions(), installed: dict[str, list[str]] | None = None, **given
) -> ModelOptions | None:
    """The tracker of `rvos refer --track NAME` (None without --track): a propagation model that takes
    objects by their own (overlapping) masks, named by model (its installed weights: the first, or on
    devices where it is slow the smallest) or by weights entry."""
    given = {k: v for k, v in given.items() if v is not None}
    if name is None:
        if "checkpoint" in given:
            raise InputError("--track-checkpoint is the tracker's weights: give the tracker with --track too")
        return None
    if name in MODELS:
        if MODELS[name].task != "propagate":
            raise InputError(
                f"--track {name}: {MODELS[name].title} is a referring model; use --track sam2 or sam3-tracker"
            )
        spec, weights = model_spec(name, "propagate"), None
        if spec.weights != "none" and "checkpoint" not in given:
            names = _installed(name, given, installed)
            if names:
                weights = names[-1] if _device_type(runtime) in spec.prefer_small_on else names[0]
    else:
        weights = name
        spec = model_spec(_model_of_weights(name, "propagate", given.get("registry"), given.get("cache_dir")))
    if "mask" not in spec.prompts:
        takers = [s.name for s in models("propagate") if "mask" in s.prompts]
        raise InputError(
            f"--track {name}: {spec.title} cannot take objects by their own masks; use --track {' or '.join(takers)}"
        )
    return model_options(spec, {**given, "weights": weights}, runtime)


def _installed(model: str, given: dict[str, Any], installed: dict[str, list[str]] | None) -> list[str]:
    """Installed entries of `model`, in registry order."""
    if installed is not None:
        return installed.get(model, [])
    from rvos_cli.weights.resolve import installed_weights

    return installed_weights(model, given.get("cache_dir"), given.get("registry"))


def _device_type(runtime: RuntimeOptions) -> str:
    if runtime.device != "auto":
        return runtime.device.split(":")[0]
    from rvos_cli.pipelines.device import resolve_device  # torch: a learned model will run anyway

    return resolve_device("auto").type


def _model_of_weights(name: str, task: str, registry: Path | None = None, cache_dir: Path | None = None) -> str:
    from rvos_cli.weights import registry_entry

    entry = registry_entry(name, registry, cache_dir)
    if entry.task != task:
        raise InputError(f"weights '{name}' are for `rvos {entry.task}`, not `rvos {task}` (see `rvos models`)")
    return entry.model


# --- windows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowOptions:
    """Frames per inference window and frames shared by consecutive windows (the later one wins)."""

    window: int = 24
    overlap: int = 6

    def __post_init__(self):
        if self.window < 1:
            raise InputError(f"--window {self.window} must be at least 1")
        if not 0 <= self.overlap < self.window:
            raise InputError(f"--overlap {self.overlap} must be at least 0 and less than --window {self.window}")

    def spans(self, num_frames: int) -> list[tuple[int, int]]:
        """Windows start every `window - overlap` frames; the last may be shorter. A window that
        would lie inside the previous one (the clip already ended) is not run."""
        spans = []
        for start in range(0, num_frames, self.window - self.overlap):
            spans.append((start, min(start + self.window, num_frames)))
            if start + self.window >= num_frames:
                break
        return spans


@dataclass(frozen=True)
class ClipOptions:
    """Which part of the input to use: --start/--end ([hh:]mm:ss or seconds), --max-seconds, --fps of a folder."""

    fps: float | None = None
    start: str | None = None
    end: str | None = None
    max_seconds: float = 10.0

    def __post_init__(self):
        # Checked here, so that a bad value is one exit 2 and not the error of every video of a batch.
        from rvos_cli.video.reader import Trim, check_clip_numbers
        from rvos_cli.video.timecode import parse_time

        check_clip_numbers(self.fps, self.max_seconds)
        Trim(parse_time(self.start, "--start"), parse_time(self.end, "--end"), self.max_seconds).bounds()
