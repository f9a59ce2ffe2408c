"""Validation each epoch: the A2D-Sentences protocol on every annotated frame of the validation split.

Every query's mask is scored by its "referred" probability (`A2DSentencesPostProcess`: upsampled to the
padded input, thresholded, cropped, resized to the frame's own size by legacy nearest) and compared with
the referred object's mask there: COCO mask mAP, AP50, AP75, precision@K, overall and mean IoU. Frames
where the referred object is not visible (Ref-YouTube-VOS layouts) have no ground truth and are left out.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from rvos_cli.eval.coco import MaskMetrics
from rvos_cli.train.datasets import ReferringDataset, Skipped
from rvos_cli.train.step import AMP_DTYPES
from rvos_cli.train.transforms import collate


def frame_masks(logits: torch.Tensor, padded: tuple[int, int], size, orig_size) -> torch.Tensor:
    """[N, h, w] mask logits of one frame -> bool [N, H0, W0] at the frame's original size."""
    masks = F.interpolate(logits[None].float(), size=padded, mode="bilinear", align_corners=False)[0] > 0
    h, w = (int(x) for x in size)
    masks = masks[:, :h, :w]
    return F.interpolate(masks[None].float(), size=tuple(int(x) for x in orig_size), mode="nearest")[0].bool()


@torch.inference_mode()
def validate(
    network: torch.nn.Module,
    dataset: ReferringDataset,
    tokenizer,
    precision: str,
    advance: Callable[[int], None] = lambda n=1: None,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, float]:
    was_training = network.training
    network.eval()
    device = next(network.parameters()).device
    metrics = MaskMetrics()
    for index in range(len(dataset)):
        item = dataset[index]
        advance(1)
        if isinstance(item, Skipped):
            warn(f"skipped a validation sample: {item.reason}")
            continue
        batch = collate([item], tokenizer).to(device)
        valid, targets = batch.annotated()
        with torch.autocast(device.type, AMP_DTYPES.get(precision, torch.float32), precision in AMP_DTYPES):
            out = network(
                batch.videos, batch.input_ids, batch.attention_mask, batch.pad_mask, valid_indices=valid.to(device)
            )
        for position, (frame_targets,) in enumerate(targets):
            target = frame_targets
            if "is_ref_inst_visible" in target and not bool(target["is_ref_inst_visible"]):
                continue
            scores = out["pred_is_referred"][position, 0].float().softmax(-1)[:, 0]
            masks = frame_masks(
                out["pred_masks"][position, 0], batch.videos.shape[-2:], target["size"], target["orig_size"]
            )
            image_id = target.get("image_id") or f"{index}/{int(valid[position])}"
            metrics.add(image_id, scores.cpu().numpy(), masks.cpu().numpy(), target["referred_mask"].cpu().numpy())
    network.train(was_training)
    return metrics.summary()
