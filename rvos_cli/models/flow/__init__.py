"""Weight-free propagation of a first-frame label mask along dense optical flow."""

from rvos_cli.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"FlowPropagator": "propagator"})
