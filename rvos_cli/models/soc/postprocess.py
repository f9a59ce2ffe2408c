"""SOC's Ref-YouTube-VOS selection (`infer_refytb.sub_processor`): one query per expression, its masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Frames upsampled at once: bounds the float buffer to FRAME_CHUNK·H0·W0 per expression.
FRAME_CHUNK = 8


def select_referred(out: dict, original_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The query each expression refers to and its masks at the original frame size.

    In: the model output (batch first: `pred_cls` [B, T, N, K], `pred_masks` [B, T, N, h, w] logits at
    stride 4) and original_size (H0, W0).
    Out: masks [B, T, H0, W0] uint8 0/1, scores [B, N] (sigmoid of `pred_cls`, mean over frames, max
    over classes), selected [B] (argmax of scores; one query for the whole clip).

    The logits are upsampled bilinearly STRAIGHT to the original size (no input-size step or crop)
    and thresholded with `sigmoid > 0.5`, as the official script writes its PNGs.
    """
    scores = out["pred_cls"].float().sigmoid().mean(dim=1).amax(dim=-1)
    selected = scores.argmax(dim=-1)
    logits = out["pred_masks"][torch.arange(scores.shape[0], device=selected.device), :, selected]  # [B, T, h, w]
    b, t = logits.shape[:2]
    masks = torch.empty((b, t, *original_size), dtype=torch.uint8, device=logits.device)
    for start in range(0, t, FRAME_CHUNK):
        chunk = logits[:, start : start + FRAME_CHUNK].float()
        chunk = F.interpolate(chunk, size=tuple(original_size), mode="bilinear", align_corners=False)
        masks[:, start : start + FRAME_CHUNK] = chunk.sigmoid() > 0.5
    return masks, scores, selected


def frame_scores(out: dict, selected: torch.Tensor) -> torch.Tensor:
    """The selected query's class probability (max over classes) on each frame: [B, T]."""
    probs = out["pred_cls"].float().sigmoid().amax(dim=-1)  # [B, T, N]
    return probs[torch.arange(probs.shape[0], device=probs.device), :, selected]
