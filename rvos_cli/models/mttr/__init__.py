"""MTTR: referring video object segmentation from text queries (Botach et al., CVPR 2022)."""

from rvos_cli.models.mttr.checkpoint import load_mttr
from rvos_cli.models.mttr.mttr import MTTR, VideoFeatures
from rvos_cli.models.mttr.postprocess import select_referred

__all__ = ["MTTR", "VideoFeatures", "load_mttr", "select_referred"]
