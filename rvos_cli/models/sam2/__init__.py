"""SAM 2.1 and SAM 3's tracker (transformers' `Sam2VideoModel`, `Sam3TrackerVideoModel`) as streaming propagators.

`load_sam2(folder)` builds the model from a Hugging Face model folder; `config_for(name)` gives the
published architectures for random-weight benchmarks; `Sam2Propagator(model, device, autocast)`
tracks objects through a video one frame at a time in bounded memory, with the semantics of SAM 2's
VOS evaluation. Importing this package needs no particular transformers version (and no torch: its
names are imported on first use); loading and propagating check it (`TRANSFORMERS_MIN`).
"""

from rvos_cli.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HUB_REPOS": "configs",
        "SIZES": "configs",
        "config_for": "configs",
        "random_model": "configs",
        "sam2_config": "configs",
        "sam3_tracker_config": "configs",
        "tiny_config": "configs",
        "TRANSFORMERS_MIN": "loader",
        "check_transformers": "loader",
        "load_sam2": "loader",
        "Sam2Propagator": "propagator",
    },
)
