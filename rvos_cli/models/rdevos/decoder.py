"""The mask decoder: memory readout + query features at 1/16, refined with the 1/8 and 1/4 skips."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rvos_cli.models.rdevos.blocks import ResBlock


class UpsampleBlock(nn.Module):
    """x2 bilinear upsampling added to a 3x3 conv of the skip feature, then a ResBlock.

    (skip [1,skip_dim,2h,2w], x [K,up_dim,h,w]) -> [K,out_dim,2h,2w]; the skip broadcasts over the K objects.
    """

    def __init__(self, skip_dim: int, up_dim: int, out_dim: int):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, 3, padding=1)
        self.out_conv = ResBlock(up_dim, out_dim)

    def forward(self, skip: Tensor, x: Tensor) -> Tensor:
        x = self.skip_conv(skip) + F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.out_conv(x)


class Decoder(nn.Module):
    """cat[readout, f16_thin] [K,1024,h,w] with skips f8 [1,512,2h,2w], f4 [1,256,4h,4w] -> logits [K,1,16h,16w]."""

    def __init__(self):
        super().__init__()
        self.compress = ResBlock(1024, 512)
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, 3, padding=1)

    def forward(self, x: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        x = self.up_8_4(f4, self.up_16_8(f8, self.compress(x)))
        x = self.pred(F.relu(x))
        return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
