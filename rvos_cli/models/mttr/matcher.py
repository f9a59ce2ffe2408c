"""MTTR's Hungarian matcher: one query trajectory per target object trajectory, for the whole window.

The cost of pairing query n with object k of a video is averaged over the window's frames:
`cost_is_referred` x (minus the softmax probability of the right "referred" class: "referred" for the
text's object on the frames where it is visible, "not referred" otherwise) plus `cost_dice` x (minus
the soft dice coefficient of the upsampled mask logits and the object's mask).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rvos_cli.models.common.assignment import linear_sum_assignment

Matching = list[tuple[torch.Tensor, torch.Tensor]]  # per video: (query indices, target indices)


def pad_masks(masks: list[torch.Tensor], objects: bool = True) -> torch.Tensor:
    """[K_i, H_i, W_i] masks, zero-padded at the end to the largest H and W (DETR's nested tensor).

    objects: stack to [len, max K, max H, max W]; else concatenate the objects to [sum K_i, max H, max W].
    """
    k, h, w = (max(m.shape[d] for m in masks) for d in range(3))
    out = masks[0].new_zeros((len(masks), k, h, w))
    for padded, mask in zip(out, masks):
        padded[: mask.shape[0], : mask.shape[1], : mask.shape[2]].copy_(mask)
    return out if objects else torch.cat([padded[: len(mask)] for padded, mask in zip(out, masks)])


def dice_coefficient(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft dice of every (query, object) pair, averaged over time.

    logits [T, N, H, W], targets [T, K, H, W] -> [N, K].
    """
    probs = logits.sigmoid().flatten(2)
    targets = targets.flatten(2).to(probs.dtype)
    numerator = 2 * torch.einsum("tnp,tkp->tnk", probs, targets)
    denominator = probs.sum(-1)[:, :, None] + targets.sum(-1)[:, None, :]
    return ((numerator + smooth) / (denominator + smooth)).mean(0)


def referred_targets(targets: list[list[dict]], device: torch.device) -> torch.Tensor:
    """[T, total objects, 2] one-hot "referred" / "not referred" labels of every object of every video.

    The text's object is "referred" on the frames where it is visible (every frame when the targets
    carry no `is_ref_inst_visible`); every other object, and it elsewhere, is "not referred".
    """
    counts = [len(v["masks"]) for v in targets[0]]
    offsets = torch.tensor([0, *counts[:-1]], device=device).cumsum(0)
    referred = torch.cat([torch.as_tensor(v["referred_instance_idx"], device=device).reshape(1) for v in targets[0]])
    referred = referred + offsets
    labels = torch.zeros((len(targets), sum(counts), 2), device=device)
    labels[..., 1] = 1.0
    yes = torch.tensor([1.0, 0.0], device=device)
    if "is_ref_inst_visible" in targets[0][0]:
        visible = torch.stack([torch.stack([torch.as_tensor(v["is_ref_inst_visible"]) for v in f]) for f in targets])
        for column, frames in zip(referred, visible.to(device).bool().T):
            labels[frames, column] = yes
    else:
        labels[:, referred] = yes
    return labels


class HungarianMatcher:
    """outputs {"pred_is_referred": [T, B, N, 2], "pred_masks": [T, B, N, h, w]} and targets (a list over
    the T frames of B dicts with "masks" [K_b, H, W], "referred_instance_idx", optionally
    "is_ref_inst_visible") -> per video b, (query indices [K_b], object indices [K_b]), query order."""

    def __init__(self, cost_is_referred: float = 2.0, cost_dice: float = 5.0):
        if cost_is_referred == 0 and cost_dice == 0:
            raise ValueError("the matcher needs a non-zero cost")
        self.cost_is_referred = cost_is_referred
        self.cost_dice = cost_dice

    @torch.no_grad()
    def __call__(self, outputs: dict, targets: list[list[dict]]) -> Matching:
        t, b, n = outputs["pred_masks"].shape[:3]
        target_masks = torch.stack([pad_masks([v["masks"] for v in frame], objects=False) for frame in targets])
        cost = torch.zeros((), device=target_masks.device)
        if self.cost_is_referred > 0:
            cost = cost + self.cost_is_referred * self.referred_cost(outputs["pred_is_referred"], targets)
        if self.cost_dice > 0:
            logits = outputs["pred_masks"].flatten(1, 2).float()
            logits = F.interpolate(logits, size=target_masks.shape[-2:], mode="bilinear", align_corners=False)
            cost = cost - self.cost_dice * dice_coefficient(logits, target_masks)
        cost = cost.view(b, n, -1).cpu()
        counts = [len(v["masks"]) for v in targets[0]]
        matching = []
        for i, block in enumerate(cost.split(counts, -1)):
            queries, objects = linear_sum_assignment(block[i].numpy())
            matching.append((torch.as_tensor(queries), torch.as_tensor(objects)))
        return matching

    @staticmethod
    def referred_cost(pred_is_referred: torch.Tensor, targets: list[list[dict]]) -> torch.Tensor:
        """[B*N, total objects]: minus the probability of each object's label, averaged over time."""
        probs = pred_is_referred.flatten(1, 2).float().softmax(-1)  # [T, B*N, 2]
        labels = referred_targets(targets, probs.device)
        return -(probs.unsqueeze(2) * labels.unsqueeze(1)).sum(-1).mean(0)
