"""RDE-VOS (Li et al., CVPR 2022): semi-supervised video object segmentation with a constant-size memory."""

from rvos_cli.models.rdevos.checkpoint import load_rdevos
from rvos_cli.models.rdevos.inference import RDETracker, propagate_probs
from rvos_cli.models.rdevos.network import RDEVOS

__all__ = ["RDEVOS", "RDETracker", "load_rdevos", "propagate_probs"]
