"""RDE-VOS (Li et al., CVPR 2022): semi-supervised video object segmentation with a constant-size memory."""

from rvos_cli.models.rdevos.checkpoint import load_rdevos
from rvos_cli.models.rdevos.inference import RDETracker, propagate_probs
from rvos_cli.models.rdevos.network import RDEVOS
from rvos_cli.models.rdevos.propagator import RdevosPropagator

__all__ = ["RDEVOS", "RDETracker", "RdevosPropagator", "load_rdevos", "propagate_probs"]
