"""The original's data transforms and collator (datasets/transforms.py, A2dSentencesTransforms, Collator).

Training: a horizontal flip with probability 1/2 that also swaps "left" and "right" in the text,
then DETR's RandomResize([short side], max_size) (frames: PIL's bilinear filter, bit-exact; masks:
legacy nearest, thresholded), then ImageNet normalisation. Evaluation: the resize and normalisation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rvos_cli.models.common.frames import normalize_video, resize_bilinear_pil, resized_size
from rvos_cli.train.step import Batch


def swap_left_right(text: str) -> str:
    """ "left" <-> "right" everywhere (both may appear in one text), as the original's flip."""
    return text.replace("left", "@").replace("right", "left").replace("@", "right")


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[K, H, W] -> [K, h, w] bool by legacy nearest interpolation (DETR's `resize`)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks.bool()
    return F.interpolate(masks[:, None].float(), size=size, mode="nearest")[:, 0] > 0.5


@dataclass(frozen=True)
class Transforms:
    """sizes: the short sides RandomResize picks from (one, in the official configurations), max_size:
    the bound on the long side; flip: horizontal flips in training."""

    sizes: tuple[int, ...] = (360,)
    max_size: int | None = 640
    flip: bool = True

    def __call__(self, frames: list[np.ndarray], targets: list[dict | None], text: str, rng: random.Random | None):
        """RGB uint8 frames [H, W, 3] (a window), per-frame targets (masks [K, H, W]) -> (video [T, 3, h, w]
        normalised, targets resized, text). `rng` None: evaluation (no flip, the first size)."""
        if rng is not None and self.flip and rng.random() < 0.5:
            frames = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
            targets = [None if t is None else {**t, "masks": t["masks"].flip(-1)} for t in targets]
            text = swap_left_right(text)
        if rng is None:  # evaluation scores the masks at the frames' own size
            targets = [None if t is None else {**t, "referred_mask": _referred(t)} for t in targets]
        short = self.sizes[0] if rng is None else rng.choice(self.sizes)
        size = resized_size(*frames[0].shape[:2], size=short, max_size=self.max_size)
        video = normalize_video(torch.from_numpy(np.stack([resize_bilinear_pil(f, size) for f in frames])))
        size_tensor = torch.tensor(size)
        targets = [
            None if t is None else {**t, "masks": resize_masks(t["masks"], size), "size": size_tensor} for t in targets
        ]
        return video, targets, text


def _referred(target: dict) -> torch.Tensor:
    return target["masks"][int(target["referred_instance_idx"].reshape(-1)[0])].bool()


def collate(samples: list[tuple[torch.Tensor, list, str]], tokenizer=None) -> Batch:
    """Videos [T, 3, h_i, w_i] zero-padded bottom/right to the largest (pad mask True there), targets
    regrouped per frame (B-tuples), texts tokenised (later, by the caller, when `tokenizer` is None):
    the original's `Collator` and `nested_tensor_from_videos_list`."""
    videos, targets, texts = zip(*samples)
    t = max(v.shape[0] for v in videos)
    h = max(v.shape[-2] for v in videos)
    w = max(v.shape[-1] for v in videos)
    padded = torch.zeros((len(videos), t, 3, h, w))
    pad_mask = torch.ones((len(videos), t, h, w), dtype=torch.bool)
    for video, out, mask in zip(videos, padded, pad_mask):
        out[: video.shape[0], :, : video.shape[2], : video.shape[3]].copy_(video)
        mask[: video.shape[0], : video.shape[2], : video.shape[3]] = False
    input_ids = attention_mask = None
    if tokenizer is not None:
        input_ids, attention_mask, _ = tokenizer.encode(list(texts))
    per_frame = [tuple(frames) for frames in zip(*targets)]
    return Batch(padded.transpose(0, 1), pad_mask.transpose(0, 1), input_ids, attention_mask, per_frame, list(texts))
