"""SAM 2.1 or SAM 3's tracker from a Hugging Face model folder (config.json + safetensors); anything else refused.

The folder is what `huggingface_hub.snapshot_download("facebook/sam2.1-hiera-tiny")` (or
"facebook/sam3") leaves: `config.json` says which model (`model_type` sam2_video, sam3_tracker_video,
or sam3_video, SAM 3 whose tracker is loaded alone: transformers maps its shared backbone and tracker
neck onto the tracker), the weights are `model.safetensors` or shards with their index, and processor
configs, when present, must describe the preprocessing `preprocess.FrameTransform` reproduces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError

from rvos_cli.errors import CheckpointError, InputError
from rvos_cli.models.sam2.preprocess import BILINEAR, RESCALE_FACTOR, frame_transform

TRANSFORMERS_MIN = "5.0.0"  # the first release with Sam3TrackerVideoModel and the session API used here
MODEL_TYPES = ("sam2_video", "sam3_tracker_video", "sam3_video")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PROCESSOR_FILES = ("video_preprocessor_config.json", "processor_config.json")
OTHER_SAM = {
    "sam2": "transformers' image-only SAM 2 (Sam2Model), which has no video memory",
    "sam3": "SAM 3's image detector alone, without its tracker",
    "sam3_tracker": "SAM 3's image-only tracker (Sam3TrackerModel), which has no video memory",
}


def check_transformers() -> None:
    """InputError unless the installed transformers has the SAM 2 / SAM 3 tracker video classes."""
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__) < Version(TRANSFORMERS_MIN):
        raise InputError(
            f"SAM 2 and SAM 3's tracker need transformers >= {TRANSFORMERS_MIN} (Sam2VideoModel, "
            f"Sam3TrackerVideoModel); this is {transformers.__version__}: "
            f"pip install -U 'transformers>={TRANSFORMERS_MIN}'"
        )


def load_network(source, variant: str | None = None):
    """The model registry's loader: a Hugging Face model folder (`load_sam2`), or a transformers config,
    whose model it builds with random weights (`configs.random_model`: `rvos bench` without a download)."""
    from rvos_cli.models.sam2.configs import random_model

    if isinstance(source, (str, os.PathLike)):
        return load_sam2(source)
    return random_model(source)


def load_sam2(folder: str | os.PathLike):
    """The `Sam2VideoModel` or `Sam3TrackerVideoModel` in a Hugging Face model folder: eval mode, float32, CPU."""
    check_transformers()
    from huggingface_hub.errors import StrictDataclassError  # config validation (transformers 5 configs)
    from transformers import Sam2VideoModel, Sam3TrackerVideoModel, Sam3VideoConfig
    from transformers.utils import logging

    logging.disable_progress_bar()  # its bars would break --json and the one-line errors

    folder = Path(folder)
    model_type = _read_config(folder)["model_type"]
    config_class = {"sam2_video": Sam2VideoModel.config_class, "sam3_video": Sam3VideoConfig}.get(
        model_type, Sam3TrackerVideoModel.config_class
    )
    try:
        config = config_class.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, StrictDataclassError) as exc:
        raise CheckpointError(f"{folder}/config.json is not a valid {model_type} config ({_first_line(exc)})") from None
    if model_type == "sam3_video":
        config = config.tracker_config
    _check_processor(folder, config)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(
            f"{folder} has no model.safetensors (or shards with model.safetensors.index.json); "
            "download the model again (rvos reads safetensors weights only)"
        )
    model_class = Sam2VideoModel if config.model_type == "sam2_video" else Sam3TrackerVideoModel
    try:
        model, info = model_class.from_pretrained(
            folder, config=config, local_files_only=True, dtype=torch.float32, output_loading_info=True
        )
    except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
        raise CheckpointError(
            f"{folder}: cannot load the weights ({_first_line(exc)}); download the model again"
        ) from None
    if info["missing_keys"] or info.get("mismatched_keys"):
        names = sorted(info["missing_keys"]) + [
            str(k[0]) if isinstance(k, tuple) else str(k) for k in info.get("mismatched_keys", ())
        ]
        raise CheckpointError(
            f"{folder}'s weights do not fit its {config.model_type} config ({len(names)} tensors missing or "
            f"mis-shaped, e.g. {', '.join(names[:3])}); download the model again"
        )
    return model.eval()


def _read_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise InputError(
            f"{folder} is not a folder; give a Hugging Face model folder (config.json and model.safetensors)"
        )
    path = folder / "config.json"
    if not path.is_file():
        raise InputError(
            f"{folder} has no config.json, so it is not a Hugging Face model folder; "
            "give the folder of a transformers SAM 2.1 or SAM 3 checkpoint (e.g. facebook/sam2.1-hiera-tiny)"
        )
    raw = _read_json(path)
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if model_type not in MODEL_TYPES:
        what = OTHER_SAM.get(model_type, f"model_type {model_type!r}")
        raise CheckpointError(
            f"{folder} holds {what}, not a SAM 2 video or SAM 3 tracker checkpoint; give the folder of "
            "facebook/sam2.1-hiera-tiny, -small, -base-plus, -large or facebook/sam3 (transformers format)"
        )
    return raw


def _check_processor(folder: Path, config) -> None:
    """CheckpointError if the folder's video processor preprocesses frames other than `frame_transform(config)`."""
    expected = frame_transform(config)
    for name in PROCESSOR_FILES:
        path = folder / name
        if not path.is_file():
            continue
        settings = _read_json(path)
        target_size = settings.get("target_size")
        if target_size is not None and int(target_size) != expected.size:
            raise CheckpointError(
                f"{path} scales prompts to {target_size} pixels but the model's input is {expected.size}; "
                "rvos supports the published preprocessing only"
            )
        settings = settings.get("video_processor", settings)
        found = {
            "size": tuple(settings.get("size", {}).get(k, expected.size) for k in ("height", "width")),
            "image_mean": tuple(settings.get("image_mean", expected.mean)),
            "image_std": tuple(settings.get("image_std", expected.std)),
            "rescale_factor": settings.get("rescale_factor", RESCALE_FACTOR),
            "resample": settings.get("resample", BILINEAR),
            "do_resize": settings.get("do_resize", True),
            "do_rescale": settings.get("do_rescale", True),
            "do_normalize": settings.get("do_normalize", True),
        }
        wanted = {
            "size": (expected.size, expected.size),
            "image_mean": tuple(expected.mean),
            "image_std": tuple(expected.std),
            "rescale_factor": expected.rescale_factor,
            "resample": BILINEAR,
            "do_resize": True,
            "do_rescale": True,
            "do_normalize": True,
        }
        for key, value in found.items():
            if value != wanted[key]:
                raise CheckpointError(
                    f"{path} has {key} {value} where {config.model_type} checkpoints have {wanted[key]}; "
                    "rvos reproduces the published preprocessing only"
                )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not readable JSON ({_first_line(exc)}); download the model again") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
