"""SOC: referring video object segmentation with a video-level object cluster (Luo et al., NeurIPS 2023)."""

from rvos_cli.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BACKBONES": "layout",
        "SOC": "model",
        "VideoFeatures": "model",
        "detect_backbone": "layout",
        "load_soc": "checkpoint",
        "select_referred": "postprocess",
    },
)
