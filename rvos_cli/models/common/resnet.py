"""torchvision-layout ResNets (v1.5: the stride on the 3x3 conv) with a choice of normalization.

RDE-VOS uses trainable-layout BatchNorm (folded in eval), ReferFormer DETR's FrozenBatchNorm2d,
whose statistics are buffers and whose epsilon sits inside the rsqrt.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

NormLayer = Callable[[int], nn.Module]
# name -> blocks per stage (Bottleneck)
DEPTHS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters, all stored as buffers (DETR's version).

    In/out: [N, C, H, W].
    """

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


class Bottleneck(nn.Module):
    """ResNet-50/101 block: 1x1 reduce, 3x3 (strided), 1x1 expand x4, identity or projected shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, norm: NormLayer = nn.BatchNorm2d):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = norm(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), norm(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class BasicBlock(nn.Module):
    """ResNet-18 block with biased 3x3 convolutions (STCN's `mod_resnet`, RDE-VOS's value encoder)."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1, norm: NormLayer = nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1)
        self.bn1 = norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != width:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, width, 1, stride=stride), norm(width))

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


def make_stage(
    block: type[Bottleneck | BasicBlock],
    in_channels: int,
    width: int,
    depth: int,
    stride: int,
    norm: NormLayer = nn.BatchNorm2d,
) -> nn.Sequential:
    """`depth` blocks; the first one strides and changes the channel count."""
    blocks = [block(in_channels, width, stride, norm)]
    blocks += [block(width * block.expansion, width, norm=norm) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    """torchvision's ResNet-50/101 trunk without the classifier.

    In: images [N, 3, H, W]. Out: layer1..layer4 [N, 256 * 2**i, ceil(H / 2**(i+2)), ...] (strides 4..32).
    """

    def __init__(self, depths=DEPTHS["resnet50"], norm: NormLayer = nn.BatchNorm2d):
        super().__init__()
        self.channels = tuple(256 * 2**i for i in range(4))
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        for i, depth in enumerate(depths):
            self.add_module(
                f"layer{i + 1}", make_stage(Bottleneck, in_channels, 64 * 2**i, depth, 1 if i == 0 else 2, norm)
            )
            in_channels = self.channels[i]

    def forward(self, images: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        outputs = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            outputs.append(x)
        return outputs
