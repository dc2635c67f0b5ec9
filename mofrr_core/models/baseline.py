"""The regression baseline the evaluation compares against: a pix2pix-style UNet generator.

One network for every retouch type, trained with L1 alone on the same pairs and budget as
the methods (no diffusion, no routing, no adversarial term); it predicts a residual over the
retouched image and starts as the identity.
"""

import torch
from diffusers.configuration_utils import register_to_config

from .base import Model
from .conv_unet import ConvUNet
from .ops import to_signed


class RegressionBaseline(Model):
    """Retouched image (B, 3, H, W) in [0, 1] -> restored image in [0, 1]."""

    @register_to_config
    def __init__(self, block_out_channels: tuple[int, ...] = (64, 128, 256, 512, 1024), norm_num_groups: int = 32):
        super().__init__()
        self.unet = ConvUNet(3, tuple(block_out_channels), norm_num_groups)

    def forward(self, retouched: torch.Tensor) -> torch.Tensor:
        return (retouched + self.unet(to_signed(retouched))).clamp(0, 1)
