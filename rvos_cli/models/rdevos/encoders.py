"""Query/key encoder (ResNet-50) and memory value encoder (ResNet-18 + CBAM fuser).

Both trunks use torchvision's parameter names and RDE-VOS stops them at stage 3 (stride 16). The
value encoder is STCN's modified ResNet-18: every convolution carries a bias and the stem reads 5
channels (RGB, the object's mask, the other objects' masks).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rvos_cli.models.common.resnet import BasicBlock, Bottleneck, make_stage
from rvos_cli.models.rdevos.blocks import ResBlock
from rvos_cli.models.rdevos.cbam import CBAM


class KeyEncoder(nn.Module):
    """ResNet-50 up to stage 3. Image [B,3,H,W] -> (f16 [B,1024,H/16,W/16], f8 [B,512,H/8,W/8], f4 [B,256,H/4,W/4]).

    Stage 1 is called `res2` in the official checkpoints.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res2 = make_stage(Bottleneck, 64, 64, depth=3, stride=1)
        self.layer2 = make_stage(Bottleneck, 256, 128, depth=4, stride=2)
        self.layer3 = make_stage(Bottleneck, 512, 256, depth=6, stride=2)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class KeyProjection(nn.Module):
    """3x3 conv from the 1024-d f16 features to the 64-d matching key. [B,1024,h,w] -> [B,64,h,w]."""

    def __init__(self, in_dim: int = 1024, key_dim: int = 64):
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)

    def forward(self, f16: Tensor) -> Tensor:
        return self.key_proj(f16)


class FeatureFusionBlock(nn.Module):
    """Fuse mask features with the frame's key features: ResBlock -> x + CBAM(x) -> ResBlock.

    ([B,256,h,w], [B,1024,h,w]) -> [B,512,h,w].
    """

    def __init__(self, in_dim: int = 1024 + 256, out_dim: int = 512):
        super().__init__()
        self.block1 = ResBlock(in_dim, out_dim)
        self.attention = CBAM(out_dim)
        self.block2 = ResBlock(out_dim, out_dim)

    def forward(self, mask_features: Tensor, f16: Tensor) -> Tensor:
        x = self.block1(torch.cat([mask_features, f16], dim=1))
        return self.block2(x + self.attention(x))


class ValueEncoder(nn.Module):
    """Per-object memory value from the frame, the object's mask and the sum of the other objects' masks.

    image [K,3,H,W], f16 [K,1024,H/16,W/16], mask [K,1,H,W], others [K,1,H,W] -> value [K,512,H/16,W/16].
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_stage(BasicBlock, 64, 64, depth=2, stride=1)
        self.layer2 = make_stage(BasicBlock, 64, 128, depth=2, stride=2)
        self.layer3 = make_stage(BasicBlock, 128, 256, depth=2, stride=2)
        self.fuser = FeatureFusionBlock()

    def forward(self, image: Tensor, f16: Tensor, mask: Tensor, others: Tensor) -> Tensor:
        x = torch.cat([image, mask, others], dim=1)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fuser(x, f16)
