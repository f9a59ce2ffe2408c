"""Weight-free propagation of a first-frame label mask along dense optical flow."""

from rvos_cli.models.flow.propagator import FlowPropagator

__all__ = ["FlowPropagator"]
