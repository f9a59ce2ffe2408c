"""SOC (Luo et al., NeurIPS 2023): semantic-assisted object cluster for referring video object segmentation.

Deformable DETR finds 20 object queries per frame; the video-level object cluster (VOC) merges
them over the clip, guided by the sentence, and the merged queries drive ReferFormer-style
dynamic mask heads on FPN mask features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rvos_cli.models.common.deformable_transformer import (
    DeformableTransformer,
    inverse_sigmoid,
)
from rvos_cli.models.common.dynamic_mask_head import (
    dynamic_mask_head,
    dynamic_param_counts,
    relative_coordinates,
)
from rvos_cli.models.common.fpn import FPNSpatialDecoder
from rvos_cli.models.common.fusion import VisionLanguageFusionModule
from rvos_cli.models.common.mlp import MLP
from rvos_cli.models.common.position_encoding import (
    sine_position_encoding_1d,
    sine_position_encoding_2d,
)
from rvos_cli.models.common.roberta import FeatureResizer, roberta_base
from rvos_cli.models.common.video_swin import SIZES, VideoSwinBackbone
from rvos_cli.models.soc.voc import VOC

# Frames whose FPN and dynamic heads run at once: bounds the stride-4 buffers (~2 GB at 360x640 for
# 100 frames otherwise); every frame is independent from the FPN on.
MASK_FRAME_CHUNK_ELEMENTS = 2**25


@dataclass
class VideoFeatures:
    """What the text-independent half of SOC computes once per clip.

    srcs: the 4 encoder levels before the text fusion, [T, 256, h_l, w_l] at strides 8, 16, 32 (input_proj
    of the backbone stages 2-4) and 64 (the extra 3x3 stride-2 level); pos: their 2-D sine encodings
    [1, 256, h_l, w_l] (no padding, so the same for every frame); stride4: backbone stage 1
    [T, C, ceil(H/4), ceil(W/4)] (the FPN's finest skip); size: (H, W) of the input frames.
    """

    srcs: list[torch.Tensor]
    pos: list[torch.Tensor]
    stride4: torch.Tensor
    size: tuple[int, int]


class BackboneBody(nn.Module):
    """Holds the Video Swin at `body`, as the original's backbone wrapper (keys `backbone.0.body.*`)."""

    def __init__(self, body: VideoSwinBackbone):
        super().__init__()
        self.body = body


class SOC(nn.Module):
    """Semantic-assisted Object Cluster.

    In: video [T, 3, H, W] (one clip, ImageNet-normalized), input_ids / attention_mask [B, L]
    (RoBERTa ids, right-padded with id 1): B expressions about the same clip.
    Out (BATCH FIRST, unlike the original's time-first [T, B, ...]):
    - "pred_cls" [B, T, 20, K] class logits (K = 1 for the released models);
    - "pred_boxes" [B, T, 20, 4] (cx, cy, w, h) in [0, 1];
    - "pred_masks" [B, T, 20, ceil(H/4), ceil(W/4)] mask logits;
    - "pred_logit" [B, 20, 256] the VOC output and "text_sentence_feature" [B, 256] (training-only
      outputs of the original, kept for checking).

    As the original in eval mode, the outputs are those of DECODER LAYER 0 (`class_embed[0]`,
    `bbox_embed[0]`, the controller on hs[0] + VOC(hs[-1])); the mask coordinates come from the
    decoder's refined reference after layer 0, not from `pred_boxes`. Each expression is computed
    as the original computes one per forward (its VOC would mix expressions; here VOC runs per item).

    `encode_video` runs the text-independent backbone once per clip; `decode` runs any batch of
    expressions against it. forward = decode(encode_video(video), ...).
    """

    def __init__(
        self,
        backbone: str = "video-swin-t",
        num_classes: int = 1,
        dim: int = 256,
        num_queries: int = 20,
        num_layers: int = 3,
        mask_dim: int = 8,
        dynamic_channels: int = 8,
    ):
        super().__init__()
        embed_dim, depths, heads = SIZES[backbone.rsplit("-", 1)[-1]]
        # Registration order = the official state_dict order (see layout.py).
        self.backbone = nn.Sequential(BackboneBody(VideoSwinBackbone(embed_dim, depths, heads)))
        channels = self.backbone[0].body.channels
        self.bbox_embed = nn.ModuleList(MLP(dim, dim, 4, 3) for _ in range(num_layers))
        self.class_embed = nn.ModuleList(nn.Linear(dim, num_classes) for _ in range(num_layers))
        self.transformer = DeformableTransformer(dim, 8, num_layers, num_layers, dim_feedforward=2048)
        self.input_proj = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(c, dim, kernel_size=1), nn.GroupNorm(32, dim)) for c in channels[1:]]
            + [nn.Sequential(nn.Conv2d(channels[-1], dim, kernel_size=3, stride=2, padding=1), nn.GroupNorm(32, dim))]
        )
        # Eager attention: bit-identical to the transformers that produced the reference outputs.
        self.text_encoder = roberta_base(pooler=True, eager=True)
        self.query_embed = nn.Embedding(num_queries, dim)
        self.spatial_decoder = FPNSpatialDecoder(dim, (dim, dim, channels[0]), mask_dim)
        self.voc = VOC(dim, num_frame_queries=num_queries, num_queries=num_queries)
        # SOC's `MMF` is ReferFormer's fusion module: x * attention(x, other), used both ways.
        self.vlf = VisionLanguageFusionModule(dim)
        self.lvf = VisionLanguageFusionModule(dim)
        self.txt_proj = FeatureResizer(self.text_encoder.config.hidden_size, dim)
        # The dynamic heads read the mask features plus the 2 relative coordinates.
        self.dynamic_channels = dynamic_channels
        num_params = sum(sum(counts) for counts in dynamic_param_counts(mask_dim + 2, dynamic_channels))
        self.controller = MLP(dim, dim, num_params, 3)

    def forward(self, video: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return self.decode(self.encode_video(video), input_ids, attention_mask)

    def encode_video(self, video: torch.Tensor) -> VideoFeatures:
        """video [T, 3, H, W] -> VideoFeatures (backbone and input projections; no text)."""
        stages = [s[:, 0] for s in self.backbone[0].body(video[:, None])]  # 4 x [T, C_i, h_i, w_i]
        srcs = [proj(x) for proj, x in zip(self.input_proj, stages[1:])]
        srcs.append(self.input_proj[-1](stages[-1]))
        # One unpadded clip: the padding masks are all False, so every frame has the same encoding.
        pos = [
            sine_position_encoding_2d(src.new_zeros((1, *src.shape[-2:]), dtype=torch.bool), src.shape[1], offset=-0.5)
            .permute(0, 3, 1, 2)
            .to(src.dtype)
            for src in srcs
        ]
        return VideoFeatures(srcs, pos, stages[0], tuple(video.shape[-2:]))

    def decode(self, features: VideoFeatures, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        """All B expressions against one encoded clip (see the class docstring for the outputs)."""
        words, sentence, pad = self.encode_text(input_ids, attention_mask)
        b, t = input_ids.shape[0], features.stride4.shape[0]
        text_pos = sine_position_encoding_1d(pad, words.shape[-1]).to(words.dtype)
        srcs = [self.fuse(src, words, text_pos, pad) for src in features.srcs]
        pos = [p.expand(b * t, -1, -1, -1) for p in features.pos]
        tgt = words.new_zeros((b * t, *self.query_embed.weight.shape))  # SOC's decoder starts from zeros
        out = self.transformer(srcs, pos, None, tgt, self.query_embed.weight, self.bbox_embed)

        hs = out.hs.unflatten(1, (b, t))  # [L, B, T, Q, C]
        video_queries = self.voc(hs[-1], sentence)  # [B, Q, C]
        hs0 = hs[0] + video_queries[:, None]  # video query i joins frame query i of every frame
        box = self.bbox_embed[0](hs0)
        xy = box[..., :2] + inverse_sigmoid(out.init_reference).unflatten(0, (b, t))
        centers = out.inter_references[0, ..., :2].unflatten(0, (b, t))
        memory = [m.unflatten(0, (b, t)) for m in out.memory[:3]]
        return {
            "pred_cls": self.class_embed[0](hs0),
            "pred_boxes": torch.cat([xy, box[..., 2:]], -1).sigmoid(),
            "pred_masks": self.mask_logits(memory, features, self.controller(hs0), centers),
            "pred_logit": video_queries,
            "text_sentence_feature": self.sentence_feature(features, words, pad),
        }

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """-> words [B, L, 256], sentence [B, 256] (the SAME txt_proj on the pooler output), pad [B, L]."""
        encoded = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask)
        pad = attention_mask.ne(1)
        return self.txt_proj(encoded.last_hidden_state), self.txt_proj(encoded.pooler_output), pad

    def fuse(self, src: torch.Tensor, words, text_pos, pad) -> torch.Tensor:
        """`vlf`: every (t, h, w) token of a level times its attention to the words.

        In: src [T, C, h, w], words/text_pos [B, L, C], pad [B, L]. Out: [B·T, C, h, w], (b t) order.
        """
        t, c, h, w = src.shape
        tokens = src.permute(0, 2, 3, 1).reshape(1, t * h * w, c).expand(words.shape[0], -1, -1)
        fused = self.vlf(tokens, words, text_pos, pad)
        return fused.view(-1, h, w, c).permute(0, 3, 1, 2)

    def sentence_feature(self, features: VideoFeatures, words: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """`lvf` at the stride-32 level: the words attend to all (t, h, w) tokens before the fusion;
        the mean over the valid words is the original's `text_sentence_feature` [B, 256] (losses only)."""
        src, pos = features.srcs[2], features.pos[2]
        t, c, h, w = src.shape
        tokens = src.permute(0, 2, 3, 1).reshape(1, t * h * w, c).expand(words.shape[0], -1, -1)
        pos = pos.permute(0, 2, 3, 1).reshape(1, h * w, c).repeat(1, t, 1)
        fused = self.lvf(words, tokens, pos, None)  # one unpadded clip: no video padding mask
        valid = (~pad).to(fused.dtype)[..., None]
        return (fused * valid).sum(1) / valid.sum(1)

    def mask_logits(
        self, memory: list[torch.Tensor], features: VideoFeatures, params: torch.Tensor, centers: torch.Tensor
    ) -> torch.Tensor:
        """FPN mask features and the dynamic mask heads, a few frames at a time.

        In: memory: the encoder levels at strides 8/16/32, [B, T, 256, h, w] each; params [B, T, Q, P]
        (controller outputs); centers [B, T, Q, 2] (x, y) in [0, 1]. Out: [B, T, Q, ceil(H/4), ceil(W/4)].
        """
        b, t, q = params.shape[:3]
        h4, w4 = features.stride4.shape[-2:]
        out = params.new_empty((b, t, q, h4, w4))
        # Relative coordinates in input pixels: the centers scale by the input (W, H).
        height, width = features.size
        centers = centers * centers.new_tensor([width, height])
        step = max(1, MASK_FRAME_CHUNK_ELEMENTS // (b * q * self.dynamic_channels * h4 * w4))
        for start in range(0, t, step):
            frames = slice(start, start + step)
            stride4 = features.stride4[frames]
            stride4 = stride4.expand(b, *stride4.shape).flatten(0, 1)
            s8, s16, s32 = (m[:, frames].flatten(0, 1) for m in memory)
            mask_features = self.spatial_decoder(s32, [s16, s8, stride4])  # [b·t', 8, h4, w4]
            rel = relative_coordinates(centers[:, frames].flatten(0, 1), (h4, w4))
            logits = dynamic_mask_head(mask_features, params[:, frames].flatten(0, 1), rel, self.dynamic_channels)
            out[:, frames] = logits.unflatten(0, (b, -1))
        return out
