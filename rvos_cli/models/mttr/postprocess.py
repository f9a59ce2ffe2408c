"""MTTR's temporal segment voting: pick the object query most referred to over the clip."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def select_referred(
    out: dict,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masks of the selected query sequence for each text query.

    In: the model output (`pred_is_referred` [T, B, N, 2], `pred_masks` [T, B, N, h, w]),
    input_size (H, W) of the model input and original_size (H0, W0) of the frames.
    Out: masks [B, T, H0, W0] uint8 0/1, scores [B, N] (mean "referred" probability over frames),
    selected [B] (argmax of scores).
    """
    scores = F.softmax(out["pred_is_referred"].float(), dim=-1)[..., 0].mean(dim=0)
    selected = scores.argmax(dim=-1)
    masks = out["pred_masks"].float().permute(1, 0, 2, 3, 4)  # [B, T, N, h, w]
    masks = masks[torch.arange(masks.shape[0]), :, selected]
    # Upsample logits first, threshold second, then resize the binary mask, as the reference.
    masks = F.interpolate(masks, size=tuple(input_size), mode="bilinear", align_corners=False).sigmoid() > 0.5
    masks = F.interpolate(masks.float(), size=tuple(original_size), mode="nearest")
    return masks.to(torch.uint8), scores, selected


def frame_scores(out: dict, selected: torch.Tensor) -> torch.Tensor:
    """The selected query's "referred" probability on each frame: [B, T] (its mean over frames is the
    query's score)."""
    probs = F.softmax(out["pred_is_referred"].float(), dim=-1)[..., 0].permute(1, 0, 2)  # [B, T, N]
    return probs[torch.arange(probs.shape[0], device=probs.device), :, selected]
