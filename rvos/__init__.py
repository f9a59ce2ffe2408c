"""rvos from Python: load a model once, then stream masks for any number of videos.

    import rvos
    seg = rvos.Referrer("mttr-ytvos", device="cuda")           # or model="referformer", checkpoint=PATH
    for frame_index, masks in seg.segment("clip.mp4", ["guy in black", "a black bike"]):
        ...                                                      # masks: [Q, H, W] bool numpy
    prop = rvos.Propagator("flow")                              # or "rdevos-ytvos", "sam2.1-hiera-tiny"
    for frame_index, labels in prop.track("clip.mp4", rvos.read_mask("clip.mask.png")):
        ...                                                      # labels: [H, W] uint8 ids

Errors are the CLI's typed errors: `InputError` (exit 2), `MissingWeightsError` (3), ...
"""

from rvos.propagator import Propagator
from rvos.referrer import Referrer
from rvos_cli.errors import CheckpointError, DownloadError, InputError, MissingWeightsError, RvosError
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.video.palette import DAVIS_PALETTE
from rvos_cli.video.palette import read_label_png as read_mask
from rvos_cli.video.palette import write_palette_png as write_mask

__all__ = [
    "DAVIS_PALETTE",
    "CheckpointError",
    "DownloadError",
    "InputError",
    "MissingWeightsError",
    "ObjectPrompt",
    "Propagator",
    "Referrer",
    "RvosError",
    "read_mask",
    "write_mask",
]
