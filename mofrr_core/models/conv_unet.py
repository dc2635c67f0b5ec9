"""A plain fully convolutional UNet (double 3x3 convs, max-pool down, transposed-conv up).

The body of MoFRR's merger and of the pix2pix-style regression baseline: it maps a stack of
input channels to a 3-channel residual whose last conv starts at zero, so a model that adds
it to an image starts as the identity.
"""

import math

import torch
from torch import nn

from .ops import crop, pad_to_multiple, zero_init_


def _double_conv(in_channels: int, out_channels: int, norm_groups: int) -> nn.Sequential:
    groups = math.gcd(norm_groups, out_channels)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.SiLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.SiLU(),
    )


class ConvUNet(nn.Module):
    """`block_out_channels` lists every level, the bottleneck last; any input size works (padded)."""

    def __init__(self, in_channels: int, block_out_channels: tuple[int, ...], norm_num_groups: int):
        super().__init__()
        channels = tuple(block_out_channels)
        self.size_multiple = 2 ** (len(channels) - 1)
        self.encoders = nn.ModuleList(
            _double_conv(c_in, c_out, norm_num_groups) for c_in, c_out in zip((in_channels,) + channels[:-1], channels)
        )
        self.pool = nn.MaxPool2d(2)
        pairs = list(zip(channels[:-1], channels[1:]))[::-1]
        self.upsamplers = nn.ModuleList(nn.ConvTranspose2d(deep, shallow, 2, stride=2) for shallow, deep in pairs)
        self.decoders = nn.ModuleList(_double_conv(2 * shallow, shallow, norm_num_groups) for shallow, _ in pairs)
        self.head = zero_init_(nn.Conv2d(channels[0], 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = pad_to_multiple(x, self.size_multiple)
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(self.pool(x) if i else x)
            skips.append(x)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips[:-1])):
            x = decoder(torch.cat([skip, upsample(x)], dim=1))
        return crop(self.head(x), size)
