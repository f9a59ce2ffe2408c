"""ReferFormer: referring video object segmentation with language as queries (Wu et al., CVPR 2022)."""

from rvos_cli.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BACKBONES": "model",
        "ReferFormer": "model",
        "VideoFeatures": "model",
        "detect_backbone": "layout",
        "load_referformer": "checkpoint",
        "select_referred": "postprocess",
    },
)
