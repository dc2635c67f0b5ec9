"""MoFRR's merging module: fuses the experts' residuals into one restored image.

A plain fully convolutional UNet (double 3x3 convs, max-pool down, transposed-conv up;
reference 64..512 channels over 4 down-sampling levels with a 1024 bottleneck, 31 M
parameters). Input: the retouched image, one residual (expert output - retouched) per retouch
type in `RETOUCH_TYPES` order, zeros for inactive experts, and the shared expert's residual.
It predicts a residual over the retouched image; the last conv starts at zero (identity).
"""

import math
from collections.abc import Mapping

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from ..types import RETOUCH_TYPES
from .base import Model
from .ops import crop, pad_to_multiple, to_signed, zero_init_

# retouched image + one residual per retouch type + the shared expert's residual
IN_CHANNELS = 3 * (1 + len(RETOUCH_TYPES) + 1)


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


class Merger(Model):
    """Residual fusion UNet; `block_out_channels` lists every level, the bottleneck last."""

    @register_to_config
    def __init__(self, block_out_channels: tuple[int, ...] = (64, 128, 256, 512, 1024), norm_num_groups: int = 32):
        super().__init__()
        channels = tuple(block_out_channels)
        self.size_multiple = 2 ** (len(channels) - 1)
        self.encoders = nn.ModuleList(
            _double_conv(c_in, c_out, norm_num_groups) for c_in, c_out in zip((IN_CHANNELS,) + channels[:-1], channels)
        )
        self.pool = nn.MaxPool2d(2)
        pairs = list(zip(channels[:-1], channels[1:]))[::-1]
        self.upsamplers = nn.ModuleList(nn.ConvTranspose2d(deep, shallow, 2, stride=2) for shallow, deep in pairs)
        self.decoders = nn.ModuleList(_double_conv(2 * shallow, shallow, norm_num_groups) for shallow, _ in pairs)
        self.head = zero_init_(nn.Conv2d(channels[0], 3, 1))

    @staticmethod
    def stack_residuals(retouched: torch.Tensor, outputs: Mapping[str, torch.Tensor | None]) -> torch.Tensor:
        """(B, 4, 3, H, W) residuals from expert outputs by type name; missing or None ones are zeros."""
        zeros = torch.zeros_like(retouched)
        return torch.stack(
            [zeros if outputs.get(name) is None else outputs[name] - retouched for name in RETOUCH_TYPES], dim=1
        )

    def forward(
        self, retouched: torch.Tensor, expert_residuals: torch.Tensor, shared_residual: torch.Tensor
    ) -> torch.Tensor:
        """Merged image in [0, 1]. `expert_residuals` (B, 4, 3, H, W), `shared_residual` (B, 3, H, W)."""
        size = retouched.shape[-2:]
        x = torch.cat([to_signed(retouched), expert_residuals.flatten(1, 2), shared_residual], dim=1)
        x = pad_to_multiple(x, self.size_multiple)
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(self.pool(x) if i else x)
            skips.append(x)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips[:-1])):
            x = decoder(torch.cat([skip, upsample(x)], dim=1))
        return (retouched + crop(self.head(x), size)).clamp(0, 1)
