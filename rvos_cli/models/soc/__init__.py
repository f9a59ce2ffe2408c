"""SOC: referring video object segmentation with a video-level object cluster (Luo et al., NeurIPS 2023)."""

from rvos_cli.models.soc.checkpoint import load_soc
from rvos_cli.models.soc.layout import BACKBONES, detect_backbone, layout
from rvos_cli.models.soc.model import SOC, VideoFeatures
from rvos_cli.models.soc.postprocess import select_referred

__all__ = ["BACKBONES", "SOC", "VideoFeatures", "detect_backbone", "layout", "load_soc", "select_referred"]
