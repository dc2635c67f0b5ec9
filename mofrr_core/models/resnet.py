"""A bottleneck ResNet backbone (ResNet-50 layout by default) returning its 4 stage outputs.

Written from scratch because no pretrained weights or torchvision are available; the router
and the degree estimators train it from random init.
"""

import torch
from torch import nn

EXPANSION = 4


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm2d(out_channels)]


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, plus a projected shortcut when shapes change."""

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out_channels = width * EXPANSION
        self.body = nn.Sequential(
            *_conv_bn(in_channels, width, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(width, width, 3, stride),
            nn.ReLU(inplace=True),
            *_conv_bn(width, out_channels, 1),
        )
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride)) if needs_projection else nn.Identity()
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max-pool) and 4 bottleneck stages of widths base * (1, 2, 4, 8).

    Stage outputs have `stage_channels` = 4 x those widths channels, at 1/4 .. 1/32 of the
    input size. Reference ResNet-50: `stage_depths=(3, 4, 6, 3)`, `base_width=64`.
    """

    def __init__(self, stage_depths: tuple[int, ...] = (3, 4, 6, 3), base_width: int = 64, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn(in_channels, base_width, 7, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        widths = [base_width * 2**i for i in range(len(stage_depths))]
        self.stage_channels = tuple(w * EXPANSION for w in widths)
        stages, channels = [], base_width
        for i, (depth, width) in enumerate(zip(stage_depths, widths)):
            blocks = [Bottleneck(channels, width, stride=1 if i == 0 else 2)]
            blocks += [Bottleneck(width * EXPANSION, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = width * EXPANSION
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features, x = [], self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
