"""The official Ref-Youtube-VOS selection (`inference_ytvos.sub_processor`): one query per expression."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def select_referred(out: dict, original_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masks of the query most likely referred to over the clip, for each expression.

    In: the model output ("pred_logits" [B, T, Q, K], "pred_masks" [B, T, Q, h, w] at stride 4) and
    original_size (H0, W0) of the frames. Out: masks [B, T, H0, W0] uint8 0/1, scores [B, Q] (the class
    probability averaged over frames, max over classes), selected [B] (argmax of scores, the same
    query for every frame).

    The stride-4 logits go straight to the original size (bilinear, no crop), then sigmoid > 0.5.
    """
    scores = out["pred_logits"].float().sigmoid().mean(1).max(-1).values
    selected = scores.argmax(-1)
    masks = out["pred_masks"].float()
    masks = masks[torch.arange(masks.shape[0], device=masks.device), :, selected]  # [B, T, h, w]
    masks = F.interpolate(masks, size=tuple(original_size), mode="bilinear", align_corners=False)
    return (masks.sigmoid() > 0.5).to(torch.uint8), scores, selected


def frame_scores(out: dict, selected: torch.Tensor) -> torch.Tensor:
    """The selected query's class probability (max over classes) on each frame: [B, T]."""
    probs = out["pred_logits"].float().sigmoid().max(-1).values  # [B, T, Q]
    return probs[torch.arange(probs.shape[0], device=probs.device), :, selected]
