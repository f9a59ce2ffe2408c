"""ReferFormer: referring video object segmentation with language as queries (Wu et al., CVPR 2022)."""

from rvos_cli.models.referformer.checkpoint import load_referformer
from rvos_cli.models.referformer.layout import detect_backbone, layout
from rvos_cli.models.referformer.model import BACKBONES, ReferFormer, VideoFeatures
from rvos_cli.models.referformer.postprocess import select_referred

__all__ = [
    "BACKBONES",
    "ReferFormer",
    "VideoFeatures",
    "detect_backbone",
    "layout",
    "load_referformer",
    "select_referred",
]
