"""MTTR (Botach et al., CVPR 2022): end-to-end referring video object segmentation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rvos_cli.models.common.fpn import FPNSpatialDecoder
from rvos_cli.models.common.mlp import MLP
from rvos_cli.models.common.video_swin import SIZES, VideoSwinBackbone
from rvos_cli.models.mttr.transformer import MultimodalTransformer


@dataclass
class VideoFeatures:
    """What the text-independent half of MTTR computes once per clip.

    embeds [T, B, 256, H/16, W/16] (projected stage-3 features), pad_mask [T, B, H/16, W/16],
    skips: stage-2 [T, B, 192, H/8, W/8] and stage-1 [T, B, 96, H/4, W/4] outputs, in FPN order.
    """

    embeds: torch.Tensor
    pad_mask: torch.Tensor
    skips: list[torch.Tensor]

    def expand(self, batch: int) -> VideoFeatures:
        """Broadcast a single video (B = 1) to `batch` text queries."""
        if self.embeds.shape[1] == batch:
            return self
        if self.embeds.shape[1] != 1:
            raise ValueError(f"{self.embeds.shape[1]} videos cannot be paired with {batch} queries")
        grow = lambda x: x.expand(x.shape[0], batch, *x.shape[2:])
        return VideoFeatures(grow(self.embeds), grow(self.pad_mask), [grow(s) for s in self.skips])

    def frames(self, indices: torch.Tensor) -> VideoFeatures:
        """Only the frames at `indices` [T'] (A2D-Sentences trains on the annotated frames of a window)."""
        pick = lambda x: x.index_select(0, indices)
        return VideoFeatures(pick(self.embeds), pick(self.pad_mask), [pick(s) for s in self.skips])


# Video Swin-T's stochastic depth in the official configurations: rates rising linearly from 0 to
# 0.1 over all 12 blocks of the four stages, of which MTTR keeps the first 10; training only.
DROP_PATH = 0.1


class MTTR(nn.Module):
    """Multimodal Tracking Transformer.

    In: video [T, B, 3, H, W] (ImageNet-normalized), input_ids / attention_mask [B, L] (RoBERTa ids,
    right-padded with id 1), optional pad_mask [T, B, H, W] (True on padded pixels).
    Out: {"pred_is_referred": [T, B, 50, 2], "pred_masks": [T, B, 50, ceil(H/4), ceil(W/4)]} from the
    last decoder layer (plus "aux_outputs" for the earlier layers when asked).

    The backbone does not see the text: `encode_video` once per clip, then `decode` any batch of
    queries against it (a single video is broadcast to all queries). In training, `valid_indices` [T']
    keeps only those frames after the backbone (the outputs then have T' frames), and the
    transformer's dropout and the backbone's drop-path apply (train mode).
    """

    def __init__(self, num_queries: int = 50, dim: int = 256, mask_kernels_dim: int = 8, drop_path: float = DROP_PATH):
        super().__init__()
        embed_dim, depths, num_heads = SIZES["t"]
        blocks = sum(depths)
        rates = [drop_path * i / (blocks - 1) for i in range(blocks)][: sum(depths[:3])]
        # MTTR drops the 4th stage
        self.backbone = VideoSwinBackbone(embed_dim, depths[:3], num_heads[:3], drop_path=rates)
        self.transformer = MultimodalTransformer(dim)
        self.is_referred_head = nn.Linear(dim, 2)
        self.instance_kernels_head = MLP(dim, dim, mask_kernels_dim, num_layers=2)
        self.obj_queries = nn.Embedding(num_queries, dim)
        self.vid_embed_proj = nn.Conv2d(self.backbone.channels[-1], dim, kernel_size=1)
        self.spatial_decoder = FPNSpatialDecoder(dim, self.backbone.channels[:-1][::-1], mask_kernels_dim)

    def forward(self, video, input_ids, attention_mask, pad_mask=None, aux_outputs: bool = False, valid_indices=None):
        features = self.encode_video(video, pad_mask)
        if valid_indices is not None:
            features = features.frames(valid_indices)
        return self.decode(features, input_ids, attention_mask, aux_outputs)

    def encode_video(self, video: torch.Tensor, pad_mask: torch.Tensor | None = None) -> VideoFeatures:
        t, b, _, h, w = video.shape
        if pad_mask is None:
            pad_mask = torch.zeros((t, b, h, w), dtype=torch.bool, device=video.device)
        stage1, stage2, stage3 = self.backbone(video)
        embeds = self.vid_embed_proj(stage3.flatten(0, 1)).unflatten(0, (t, b))
        # Legacy nearest resize of the pixel padding mask to the token grid, as the reference does.
        token_mask = F.interpolate(pad_mask.float(), size=stage3.shape[-2:]).bool()
        return VideoFeatures(embeds, token_mask, [stage2, stage1])

    def decode(self, features: VideoFeatures, input_ids, attention_mask, aux_outputs: bool = False) -> dict:
        features = features.expand(input_ids.shape[0])
        t, b = features.embeds.shape[:2]
        hs, vid_memory = self.transformer(
            features.embeds, features.pad_mask, input_ids, attention_mask, self.obj_queries.weight
        )
        if not aux_outputs:
            hs = hs[-1:]
        pixel_features = self.spatial_decoder(
            vid_memory.flatten(0, 1), [s.flatten(0, 1) for s in features.skips]
        ).unflatten(0, (t, b))
        kernels = self.instance_kernels_head(hs)
        masks = torch.einsum("ltbnc,tbchw->ltbnhw", kernels, pixel_features)
        referred = self.is_referred_head(hs)
        layers = [{"pred_is_referred": r, "pred_masks": m} for r, m in zip(referred, masks)]
        out = layers[-1]
        if aux_outputs:
            out["aux_outputs"] = layers[:-1]
        return out
