"""RDE-VOS (Li et al., CVPR 2022): semi-supervised video object segmentation with a constant-size memory."""

from rvos_cli.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RDEVOS": "network",
        "RDETracker": "inference",
        "RdevosPropagator": "propagator",
        "load_rdevos": "checkpoint",
        "propagate_probs": "inference",
    },
)
