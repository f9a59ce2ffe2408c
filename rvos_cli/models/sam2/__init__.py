"""SAM 2.1 and SAM 3's tracker (transformers' `Sam2VideoModel`, `Sam3TrackerVideoModel`) as streaming propagators.

`load_sam2(folder)` builds the model from a Hugging Face model folder; `config_for(name)` gives the
published architectures for random-weight benchmarks; `Sam2Propagator(model, device, autocast)`
tracks objects through a video one frame at a time in bounded memory, with the semantics of SAM 2's
VOS evaluation. Importing this package needs no particular transformers version; loading and
propagating check it (`TRANSFORMERS_MIN`).
"""

from rvos_cli.models.sam2.configs import (
    HUB_REPOS,
    SIZES,
    config_for,
    random_model,
    sam2_config,
    sam3_tracker_config,
    tiny_config,
)
from rvos_cli.models.sam2.loader import TRANSFORMERS_MIN, check_transformers, load_sam2
from rvos_cli.models.sam2.propagator import Sam2Propagator

__all__ = [
    "HUB_REPOS",
    "SIZES",
    "TRANSFORMERS_MIN",
    "Sam2Propagator",
    "check_transformers",
    "config_for",
    "load_sam2",
    "random_model",
    "sam2_config",
    "sam3_tracker_config",
    "tiny_config",
]
