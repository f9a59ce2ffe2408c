"""Per-object mask logits to one label map, as SAM 2's VOS evaluation (`tools/vos_inference.py`) writes it.

The evaluation applies `_apply_non_overlapping_constraints` to the logits at video resolution (at
each pixel only the object with the highest logit keeps it; the others are clamped to -10), then
thresholds at 0 and paints the objects into one PNG. Objects are in ascending id order, so where
logits tie exactly the lower id wins, as `torch.argmax` picks the first.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def non_overlapping_labels(logits: Tensor, object_ids: Sequence[int]) -> Tensor:
    """logits [N, H, W] (object n is `object_ids[n]`, ids ascending) -> uint8 labels [H, W], 0 background."""
    winner = logits.argmax(dim=0)
    best = logits.gather(0, winner[None])[0]
    ids = torch.tensor(list(object_ids), dtype=torch.uint8, device=logits.device)
    return torch.where(best > 0, ids[winner], torch.zeros((), dtype=torch.uint8, device=logits.device))
