"""ReferFormer (Wu et al., CVPR 2022): language as queries for referring video object segmentation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rvos_cli.models.common import swin, video_swin
from rvos_cli.models.common.deformable_transformer import (
    DeformableTransformer,
    inverse_sigmoid,
)
from rvos_cli.models.common.dynamic_mask_head import (
    dynamic_mask_head,
    dynamic_param_counts,
    relative_coordinates,
)
from rvos_cli.models.common.fusion import VisionLanguageFusionModule
from rvos_cli.models.common.mlp import MLP
from rvos_cli.models.common.position_encoding import (
    sine_position_encoding_1d,
    sine_position_encoding_2d,
)
from rvos_cli.models.common.resnet import DEPTHS, FrozenBatchNorm2d, ResNet
from rvos_cli.models.common.roberta import FeatureResizer, roberta_base
from rvos_cli.models.referformer.pixel_decoder import (
    CrossModalFPNDecoder,
    clip_maps,
    clip_tokens,
)

# The backbones of the Ref-Youtube-VOS model zoo (the official `--backbone` spells the Swins
# `video_swin_t_p4w7`, `swin_l_p4w7`, ...: every Swin there has patch 4 and window 7).
BACKBONES = ("video-swin-t", "video-swin-s", "video-swin-b", "swin-t", "swin-l", "resnet50", "resnet101")
MASK_STRIDE = 4


class BackboneBody(nn.Module):
    """The original's `backbone.0` (its `Joiner` also holds the position encoding, which has no tensors).

    In: video [T, 3, H, W]. Out: 4 maps [T, C_i, h_i, w_i] at strides 4, 8, 16, 32. Only Video Swin
    mixes frames; the other trunks see each frame alone.
    """

    def __init__(self, name: str):
        super().__init__()
        self.is_video = name.startswith("video-swin")
        if self.is_video:
            self.body = video_swin.VideoSwinBackbone(*video_swin.SIZES[name.rsplit("-", 1)[1]])
        elif name.startswith("swin"):
            self.body = swin.SwinBackbone(*swin.SIZES[name.rsplit("-", 1)[1]])
        else:
            self.body = ResNet(DEPTHS[name], norm=FrozenBatchNorm2d)
        self.channels = self.body.channels

    def forward(self, video: torch.Tensor) -> list[torch.Tensor]:
        if self.is_video:
            return [x.squeeze(1) for x in self.body(video.unsqueeze(1))]
        return self.body(video)


@dataclass
class VideoFeatures:
    """What ReferFormer computes from the frames alone, once per clip.

    srcs: the 4 encoder inputs before the text fusion, [T, 256, h, w] at strides 8, 16, 32, 64;
    fine: the stride-4 backbone map through `pixel_decoder.adapter_1`, [T, 256, h4, w4];
    pos: sine position encodings [1, 256, h, w] at strides 4, 8, 16, 32, 64;
    size: (H, W) of the input frames (the relative coordinates of the mask head are in its pixels).
    """

    srcs: list[torch.Tensor]
    fine: torch.Tensor
    pos: list[torch.Tensor]
    size: tuple[int, int]


def position_encoding(size: tuple[int, int], dim: int, device: torch.device) -> torch.Tensor:
    """[1, dim, h, w] Deformable DETR sine encoding of an unpadded map."""
    pad_mask = torch.zeros((1, *size), dtype=torch.bool, device=device)
    return sine_position_encoding_2d(pad_mask, dim, offset=-0.5).permute(0, 3, 1, 2)


class ReferFormer(nn.Module):
    """ReferFormer with box refinement and the binary (referred or not) class head, as released.

    In: video [T, 3, H, W] (ImageNet-normalized), input_ids / attention_mask [B, L] (RoBERTa ids of B
    expressions about that clip, right-padded with id 1). Out: "pred_logits" [B, T, Q, 1], "pred_boxes"
    [B, T, Q, 4] (cx, cy, w, h in [0, 1]), "pred_masks" [B, T, Q, ceil(H/4), ceil(W/4)] (logits) and
    "reference_points" [B, T, Q, 2] from the last decoder layer, plus "aux_outputs" when asked.

    `encode_video` runs the backbone once per clip; `decode` runs everything that depends on the
    text for a batch of expressions. The modules are registered in the checkpoint's order.
    """

    def __init__(
        self,
        backbone: str = "video-swin-t",
        num_queries: int = 5,
        num_classes: int = 1,
        d_model: int = 256,
        num_layers: int = 4,
        dim_feedforward: int = 2048,
        mask_dim: int = 256,
        dynamic_mask_channels: int = 8,
        controller_layers: int = 3,
    ):
        super().__init__()
        self.transformer = DeformableTransformer(d_model, 8, num_layers, num_layers, dim_feedforward, 4, 4, 4)
        self.class_embed = nn.ModuleList(nn.Linear(d_model, num_classes) for _ in range(num_layers))
        # Registered by the original a second time as `transformer.decoder.bbox_embed`.
        self.bbox_embed = nn.ModuleList(MLP(d_model, d_model, 4, 3) for _ in range(num_layers))
        self.query_embed = nn.Embedding(num_queries, d_model)
        body = BackboneBody(backbone)
        channels = body.channels
        self.input_proj = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(c, d_model, 1), nn.GroupNorm(32, d_model)) for c in channels[1:]]
            + [nn.Sequential(nn.Conv2d(channels[-1], d_model, 3, stride=2, padding=1), nn.GroupNorm(32, d_model))]
        )
        self.backbone = nn.ModuleList([body])
        self.text_encoder = roberta_base(pooler=True, eager=True)
        self.resizer = FeatureResizer(self.text_encoder.config.hidden_size, d_model)
        self.fusion_module = VisionLanguageFusionModule(d_model, 8)
        self.pixel_decoder = CrossModalFPNDecoder(channels[0], d_model, mask_dim, dim_feedforward)
        self.mask_head = (dynamic_mask_channels, controller_layers)
        weight_nums, bias_nums = dynamic_param_counts(mask_dim + 2, dynamic_mask_channels, controller_layers)
        self.controller = MLP(d_model, d_model, sum(weight_nums) + sum(bias_nums), 3)

    def forward(self, video, input_ids, attention_mask, aux_outputs: bool = False) -> dict:
        return self.decode(self.encode_video(video), input_ids, attention_mask, aux_outputs)

    def encode_video(self, video: torch.Tensor) -> VideoFeatures:
        """[T, 3, H, W] normalized frames -> the text-independent VideoFeatures."""
        features = self.backbone[0](video)
        srcs = [proj(x) for proj, x in zip(self.input_proj, features[1:])]
        srcs.append(self.input_proj[-1](features[-1]))  # stride 64, from the raw stride-32 map
        sizes = [tuple(features[0].shape[-2:])] + [tuple(s.shape[-2:]) for s in srcs]
        pos = [position_encoding(size, srcs[0].shape[1], video.device).to(srcs[0].dtype) for size in sizes]
        fine = self.pixel_decoder.adapter_1(features[0])
        return VideoFeatures(srcs, fine, pos, tuple(video.shape[-2:]))

    def decode(self, features: VideoFeatures, input_ids, attention_mask, aux_outputs: bool = False) -> dict:
        """All B expressions against one clip's features (see the class docstring for the outputs)."""
        b, t = input_ids.shape[0], features.fine.shape[0]
        text, sentence, text_pad = self.encode_text(input_ids, attention_mask)
        text_pos = sine_position_encoding_1d(text_pad, text.shape[-1]).to(text.dtype)

        srcs = [self.fuse(src, text, text_pos, text_pad) for src in features.srcs]  # [B*T, C, h, w]
        tgt = sentence[:, None, None].expand(b, t, self.query_embed.num_embeddings, -1).flatten(0, 1)
        out = self.transformer(srcs, features.pos[1:], None, tgt, self.query_embed.weight, self.bbox_embed)

        layers = range(len(out.hs)) if aux_outputs else [len(out.hs) - 1]
        fine = features.fine.repeat(b, 1, 1, 1)
        mask_features = self.pixel_decoder(fine, out.memory[:3], features.pos[:4], text, text_pos, text_pad, t)
        preds = [self.predict(out, layer, mask_features, features.size) for layer in layers]
        preds = [{k: v.unflatten(0, (b, t)) for k, v in p.items()} for p in preds]
        result = preds[-1]
        result["reference_points"] = out.inter_references[-2, ..., :2].unflatten(0, (b, t))
        if aux_outputs:
            result["aux_outputs"] = preds[:-1]
        return result

    def encode_text(self, input_ids, attention_mask):
        """Word features [B, L, C], sentence feature [B, C] and the padding mask [B, L] (True on padding)."""
        encoded = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask)
        words = self.resizer(encoded.last_hidden_state)
        sentence = self.resizer(encoded.pooler_output)  # the same resizer as the words
        return words, sentence, attention_mask.ne(1)

    def fuse(self, src: torch.Tensor, text, text_pos, text_pad) -> torch.Tensor:
        """[T, C, h, w] clip map -> [B*T, C, h, w] gated by each expression (tokens of the whole clip)."""
        t = src.shape[0]
        tokens = clip_tokens(src, t).expand(text.shape[0], -1, -1)
        return clip_maps(self.fusion_module(tokens, text, text_pos, text_pad), t, tuple(src.shape[-2:]))

    def predict(self, out, layer: int, mask_features: torch.Tensor, size: tuple[int, int]) -> dict:
        """Class logits, boxes and masks of one decoder layer, [B*T, Q, ...] each."""
        hs = out.hs[layer]
        reference = inverse_sigmoid(out.init_reference if layer == 0 else out.inter_references[layer - 1])
        delta = self.bbox_embed[layer](hs)
        if reference.shape[-1] == 4:
            boxes = (delta + reference).sigmoid()
        else:
            boxes = torch.cat([delta[..., :2] + reference, delta[..., 2:]], -1).sigmoid()
        # The mask head is centred on the refined box of this layer, in input pixels.
        h, w = size
        centers = out.inter_references[layer][..., :2] * torch.tensor([w, h], dtype=hs.dtype, device=hs.device)
        rel = relative_coordinates(centers, tuple(mask_features.shape[-2:]), MASK_STRIDE)
        masks = dynamic_mask_head(mask_features, self.controller(hs), rel, *self.mask_head)
        return {"pred_logits": self.class_embed[layer](hs), "pred_boxes": boxes, "pred_masks": masks}
