"""The Deformable DETR transformer (Zhu et al., ICLR 2021) with iterative box refinement.

Post-norm encoder layers of multi-scale deformable self-attention and decoder layers of query
self-attention plus deformable cross-attention. The box-refinement heads (`bbox_embed`) belong
to the calling model and are passed to the decoder's forward: the originals register them a
second time inside the decoder, which only duplicates their checkpoint entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rvos_cli.models.common.attention import Attention
from rvos_cli.models.common.mlp import feed_forward
from rvos_cli.models.common.ms_deform_attn import MSDeformAttn


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


@dataclass
class DeformableOutput:
    """memory: the encoded levels, [N, C, h, w] each, finest first; hs [L, N, Q, C] (every decoder
    layer, no final norm); init_reference [N, Q, 2] (x, y); inter_references [L, N, Q, 4] (cx, cy, w, h
    after each layer's refinement; [L, N, Q, 2] without box refinement)."""

    memory: list[torch.Tensor]
    hs: torch.Tensor
    init_reference: torch.Tensor
    inter_references: torch.Tensor


class DeformableTransformerEncoderLayer(nn.Module):
    """Deformable self-attention over all levels, then a ReLU FFN; post-norm. In/out: [N, S, C]."""

    def __init__(self, d_model: int = 256, d_ffn: int = 1024, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, pos, reference_points, spatial_shapes, padding_mask=None):
        src = self.norm1(src + self.self_attn(src + pos, reference_points, src, spatial_shapes, padding_mask))
        return self.norm2(src + feed_forward(src, self.linear1, self.linear2))


class DeformableTransformerDecoderLayer(nn.Module):
    """Query self-attention, deformable cross-attention to the memory, ReLU FFN; post-norm.

    In: tgt [N, Q, C], query_pos [N, Q, C], reference_points [N, Q, L, 2 or 4], memory [N, S, C].
    Out: [N, Q, C]. The modules are registered in the original's (checkpoint) order.
    """

    def __init__(self, d_model: int = 256, d_ffn: int = 1024, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = Attention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, tgt, query_pos, reference_points, memory, spatial_shapes, padding_mask=None):
        q = k = tgt + query_pos
        tgt = self.norm2(tgt + self.self_attn(q, k, tgt))
        tgt = self.norm1(tgt + self.cross_attn(tgt + query_pos, reference_points, memory, spatial_shapes, padding_mask))
        return self.norm3(tgt + feed_forward(tgt, self.linear1, self.linear2))


class DeformableTransformerEncoder(nn.Module):
    def __init__(self, num_layers: int, **layer_args):
        super().__init__()
        self.layers = nn.ModuleList(DeformableTransformerEncoderLayer(**layer_args) for _ in range(num_layers))

    def forward(self, src, pos, spatial_shapes, valid_ratios, padding_mask=None):
        reference_points = encoder_reference_points(spatial_shapes, valid_ratios)
        for layer in self.layers:
            src = layer(src, pos, reference_points, spatial_shapes, padding_mask)
        return src


class DeformableTransformerDecoder(nn.Module):
    def __init__(self, num_layers: int, **layer_args):
        super().__init__()
        self.layers = nn.ModuleList(DeformableTransformerDecoderLayer(**layer_args) for _ in range(num_layers))

    def forward(
        self,
        tgt,
        reference_points,
        memory,
        spatial_shapes,
        valid_ratios,
        query_pos,
        padding_mask=None,
        bbox_embed: nn.ModuleList | None = None,
    ):
        """Returns hs [L, N, Q, C] and the references after each layer [L, N, Q, 4] (or 2).

        With `bbox_embed`, each layer refines the reference: the first turns the (x, y) point
        into a (cx, cy, w, h) box, later ones update the box in logit space.
        """
        outputs, references = [], []
        for i, layer in enumerate(self.layers):
            scale = valid_ratios if reference_points.shape[-1] == 2 else torch.cat([valid_ratios, valid_ratios], -1)
            tgt = layer(
                tgt, query_pos, reference_points[:, :, None] * scale[:, None], memory, spatial_shapes, padding_mask
            )
            if bbox_embed is not None:
                delta = bbox_embed[i](tgt)
                if reference_points.shape[-1] == 4:
                    reference_points = (delta + inverse_sigmoid(reference_points)).sigmoid()
                else:
                    xy = delta[..., :2] + inverse_sigmoid(reference_points)
                    reference_points = torch.cat([xy, delta[..., 2:]], -1).sigmoid()
            outputs.append(tgt)
            references.append(reference_points)
        return torch.stack(outputs), torch.stack(references)


class DeformableTransformer(nn.Module):
    """Encoder over the flattened levels of each image, decoder of `Q` queries per image.

    In: srcs [N, C, h_l, w_l] per level, pos_embeds like srcs, masks [N, h_l, w_l] per level (True on
    padding; None for unpadded inputs), tgt [N, Q, C] (the initial decoder state, chosen by the model:
    ReferFormer starts from the sentence feature, others from zeros), query_pos [Q, C] (also the
    source of the initial reference points), bbox_embed: the model's per-layer box MLPs, or None.
    Out: a DeformableOutput.
    """

    def __init__(
        self,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 1024,
        num_feature_levels: int = 4,
        dec_n_points: int = 4,
        enc_n_points: int = 4,
    ):
        super().__init__()
        self.d_model = d_model
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        common = {"d_model": d_model, "d_ffn": dim_feedforward, "n_levels": num_feature_levels, "n_heads": nhead}
        self.encoder = DeformableTransformerEncoder(num_encoder_layers, n_points=enc_n_points, **common)
        self.decoder = DeformableTransformerDecoder(num_decoder_layers, n_points=dec_n_points, **common)
        self.reference_points = nn.Linear(d_model, 2)

    def forward(self, srcs, pos_embeds, masks, tgt, query_pos, bbox_embed=None) -> DeformableOutput:
        n = srcs[0].shape[0]
        spatial_shapes = [tuple(src.shape[-2:]) for src in srcs]
        src_flatten = torch.cat([src.flatten(2).transpose(1, 2) for src in srcs], 1)  # [N, S, C]
        pos_flatten = torch.cat(
            [pos.flatten(2).transpose(1, 2) + self.level_embed[i].to(pos.dtype) for i, pos in enumerate(pos_embeds)], 1
        )
        if masks is None:
            padding_mask = None
            valid_ratios = src_flatten.new_ones(n, len(srcs), 2)
        else:
            padding_mask = torch.cat([m.flatten(1) for m in masks], 1)
            valid_ratios = torch.stack([valid_ratio(m) for m in masks], 1).to(src_flatten.dtype)

        memory = self.encoder(src_flatten, pos_flatten, spatial_shapes, valid_ratios, padding_mask)

        query_pos = query_pos.to(memory.dtype).expand(n, -1, -1)
        init_reference = self.reference_points(query_pos).sigmoid()
        hs, inter_references = self.decoder(
            tgt, init_reference, memory, spatial_shapes, valid_ratios, query_pos, padding_mask, bbox_embed
        )
        levels = memory.split([h * w for h, w in spatial_shapes], dim=1)
        memory = [m.transpose(1, 2).unflatten(2, shape) for m, shape in zip(levels, spatial_shapes)]
        return DeformableOutput(memory, hs, init_reference, inter_references)


def valid_ratio(mask: torch.Tensor) -> torch.Tensor:
    """[N, h, w] padding mask -> [N, 2]: the unpadded fraction of the width and of the height."""
    _, h, w = mask.shape
    valid_h = (~mask[:, :, 0]).sum(1)
    valid_w = (~mask[:, 0, :]).sum(1)
    return torch.stack([valid_w.float() / w, valid_h.float() / h], -1)


def encoder_reference_points(spatial_shapes, valid_ratios: torch.Tensor) -> torch.Tensor:
    """[N, S, L, 2]: the center of every cell of every level, in the valid region of each level."""
    points = []
    for level, (h, w) in enumerate(spatial_shapes):
        ref_y, ref_x = torch.meshgrid(
            torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=valid_ratios.device),
            torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=valid_ratios.device),
            indexing="ij",
        )
        ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, level, 1] * h)
        ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, level, 0] * w)
        points.append(torch.stack((ref_x, ref_y), -1))
    return torch.cat(points, 1)[:, :, None] * valid_ratios[:, None]
