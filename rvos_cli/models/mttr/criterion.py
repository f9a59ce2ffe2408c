"""MTTR's training loss (Botach et al., CVPR 2022, Sec. 3.4): a DETR-style set criterion over query trajectories.

Each decoder layer's output is matched to the window's object trajectories (`HungarianMatcher`), the
matching of a video is used for all its frames, and the matched queries are supervised with a sigmoid
focal and a dice loss on their masks and a "referred" log-softmax loss (the text's object is
"referred" on the frames where it is visible; every other query is "not referred", weighted `eos_coef`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from rvos_cli.models.mttr.matcher import HungarianMatcher, Matching, pad_masks

# The official configurations' weights of each loss term (and of the same term of each auxiliary layer).
LOSS_WEIGHTS = {"loss_is_referred": 2.0, "loss_dice": 5.0, "loss_sigmoid_focal": 2.0}
EOS_COEF = 0.1


def sigmoid_focal_loss(logits, targets, num_masks: float, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """RetinaNet's focal loss, averaged over pixels and summed over masks / num_masks. logits, targets [M, P]."""
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean(1).sum() / num_masks


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """1 - soft dice (smoothed by 1), summed over masks / num_masks. logits, targets [M, P]."""
    probs = logits.sigmoid()
    numerator = 2 * (probs * targets).sum(1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def weight_dict(num_decoder_layers: int = 3, weights: dict[str, float] = LOSS_WEIGHTS) -> dict[str, float]:
    """Every loss name the criterion reports and its weight: the last layer's, then `_0`, `_1`, ... per
    auxiliary layer."""
    out = dict(weights)
    for i in range(num_decoder_layers - 1):
        out.update({f"{name}_{i}": w for name, w in weights.items()})
    return out


class SetCriterion:
    """outputs (the model's, with "aux_outputs") and targets (a list over frames of B dicts, see
    `HungarianMatcher`) -> ({loss name: scalar}, matchings per layer, last layer first).

    `num_masks` is the number of target masks over all frames and videos (averaged over processes
    by `reduce` in distributed training), at least 1.
    """

    def __init__(
        self,
        matcher: HungarianMatcher,
        weights: dict[str, float] = LOSS_WEIGHTS,
        eos_coef: float = EOS_COEF,
        num_decoder_layers: int = 3,
        reduce: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
    ):
        self.matcher = matcher
        self.weights = weights
        self.weight_dict = weight_dict(num_decoder_layers, weights)
        self.eos_coef = eos_coef
        self.reduce = reduce

    def __call__(self, outputs: dict, targets: list[list[dict]]) -> tuple[dict[str, torch.Tensor], list[Matching]]:
        losses, matching = self.layer_losses(outputs, targets)
        matchings = [matching]
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses, matching = self.layer_losses(aux, targets)
            losses.update({f"{name}_{i}": value for name, value in aux_losses.items()})
            matchings.append(matching)
        return losses, matchings

    def total(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum the step minimises, in the original's order of terms."""
        return sum(losses[name] * self.weight_dict[name] for name in losses if name in self.weight_dict)

    def layer_losses(self, outputs: dict, targets: list[list[dict]]) -> tuple[dict[str, torch.Tensor], Matching]:
        matching = self.matcher(outputs, targets)
        device = outputs["pred_masks"].device
        matching = [(q.to(device), k.to(device)) for q, k in matching]
        frames = [target for frame in targets for target in frame]  # time-major, as the outputs flattened
        per_frame = len(targets) * matching
        num_masks = self.reduce(torch.tensor([float(sum(len(t["masks"]) for t in frames))], device=device))
        num_masks = num_masks.clamp(min=1).item()
        losses = {}
        if self.weights.get("loss_dice", 0) > 0 or self.weights.get("loss_sigmoid_focal", 0) > 0:
            losses.update(self.mask_losses(outputs["pred_masks"].flatten(0, 1), frames, per_frame, num_masks))
        if self.weights.get("loss_is_referred", 0) > 0:
            losses["loss_is_referred"] = self.referred_loss(
                outputs["pred_is_referred"].flatten(0, 1), frames, per_frame
            )
        return losses, matching

    def referred_loss(self, logits: torch.Tensor, frames: list[dict], matching: Matching) -> torch.Tensor:
        """logits [F, N, 2] of F = T*B frames: -log p(label) per query, "not referred" ones weighted eos_coef,
        summed and divided by F."""
        log_probs = logits.log_softmax(-1)
        referred_query = torch.cat(
            [
                queries[objects == torch.as_tensor(t["referred_instance_idx"], device=objects.device)]
                for (queries, objects), t in zip(matching, frames)
            ]
        )
        labels = torch.zeros_like(log_probs)
        labels[..., 1] = 1.0
        frame_index = torch.arange(len(frames), device=logits.device)
        if "is_ref_inst_visible" in frames[0]:
            visible = torch.stack([torch.as_tensor(t["is_ref_inst_visible"]).reshape(()) for t in frames]).bool()
            visible = visible.to(logits.device)
            labels[frame_index[visible], referred_query[visible]] = torch.tensor([1.0, 0.0], device=logits.device)
        else:
            labels[frame_index, referred_query] = torch.tensor([1.0, 0.0], device=logits.device)
        loss = -(log_probs * labels).sum(-1)
        weights = torch.full(loss.shape, self.eos_coef, device=loss.device)
        weights[frame_index, referred_query] = 1.0
        return (loss * weights).sum() / len(matching)

    def mask_losses(self, logits: torch.Tensor, frames: list[dict], matching: Matching, num_masks: float) -> dict:
        """logits [F, N, h, w]: focal and dice losses of the matched queries' masks, upsampled to the targets."""
        frame_index = torch.cat([torch.full_like(q, i) for i, (q, _) in enumerate(matching)])
        queries = torch.cat([q for q, _ in matching])
        objects = torch.cat([k for _, k in matching])
        predicted = logits[frame_index, queries]
        target = pad_masks([t["masks"] for t in frames]).to(predicted)[frame_index, objects]
        predicted = F.interpolate(predicted[:, None], size=target.shape[-2:], mode="bilinear", align_corners=False)
        predicted, target = predicted[:, 0].flatten(1), target.flatten(1)
        return {
            "loss_sigmoid_focal": sigmoid_focal_loss(predicted, target, num_masks),
            "loss_dice": dice_loss(predicted, target, num_masks),
        }
