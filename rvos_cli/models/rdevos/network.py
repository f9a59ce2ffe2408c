"""RDE-VOS (Li et al., CVPR 2022): STCN-style space-time memory with a recurrent dynamic embedding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rvos_cli.models.rdevos.compressor import MemoryCompressor
from rvos_cli.models.rdevos.decoder import Decoder
from rvos_cli.models.rdevos.encoders import KeyEncoder, KeyProjection, ValueEncoder


def other_masks(masks: Tensor) -> Tensor:
    """For each object, the sum of the other objects' masks (zeros for one object). [K,1,H,W] -> [K,1,H,W]."""
    k = masks.shape[0]
    if k == 1:
        return torch.zeros_like(masks)
    return torch.cat([masks[[j for j in range(k) if j != i]].sum(dim=0, keepdim=True) for i in range(k)])


class RDEVOS(nn.Module):
    """The inference network; parameter names and registration follow the official checkpoints.

    Frames are ImageNet-normalised [1,3,H,W] with H, W multiples of 16; h, w = H/16, W/16.
    """

    def __init__(self):
        super().__init__()
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder()
        self.mem_compress = MemoryCompressor()
        self.key_proj = KeyProjection(1024, 64)
        self.key_comp = nn.Conv2d(1024, 512, 3, padding=1)
        self.decoder = Decoder()

    def encode_key(self, frame: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """frame [1,3,H,W] -> key [1,64,h,w], f16_thin [1,512,h,w], f16 [1,1024,h,w], f8, f4."""
        f16, f8, f4 = self.key_encoder(frame)
        return self.key_proj(f16), self.key_comp(f16), f16, f8, f4

    def encode_value(self, frame: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        """frame [1,3,H,W], f16 [1,1024,h,w], masks [K,1,H,W] (aggregated probabilities) -> values [K,512,1,h,w]."""
        k = masks.shape[0]
        value = self.value_encoder(frame.expand(k, -1, -1, -1), f16.expand(k, -1, -1, -1), masks, other_masks(masks))
        return value.unsqueeze(2)

    def segment(self, readout: Tensor, f16_thin: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        """readout [K,512,h,w] + query features -> per-object foreground probability [K,1,H,W]."""
        x = torch.cat([readout, f16_thin.expand(readout.shape[0], -1, -1, -1)], dim=1)
        return torch.sigmoid(self.decoder(x, f8, f4))

    def compress_memory(
        self, prev_key: Tensor, prev_value: Tensor, new_key: Tensor, new_value: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The RDE update: keys [1,64,1,h,w] and values [K,512,1,h,w] -> the same shapes."""
        return self.mem_compress(torch.cat([prev_key, new_key], dim=2), torch.cat([prev_value, new_value], dim=2))
