"""MTTR: referring video object segmentation from text queries (Botach et al., CVPR 2022)."""

from rvos_cli.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {"MTTR": "mttr", "VideoFeatures": "mttr", "load_mttr": "checkpoint", "select_referred": "postprocess"},
)
