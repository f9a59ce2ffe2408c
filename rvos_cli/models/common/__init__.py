"""Building blocks shared by the model ports (backbones, attention, Deformable DETR, mask heads)."""
