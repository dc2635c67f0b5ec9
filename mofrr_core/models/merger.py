"""MoFRR's merging module: fuses the experts' residuals into one restored image.

A plain fully convolutional UNet (`ConvUNet`; reference 64..512 channels over 4
down-sampling levels with a 1024 bottleneck, 31 M parameters). Input: the retouched image, one residual (expert output - retouched) per retouch
type in `RETOUCH_TYPES` order, zeros for inactive experts, and the shared expert's residual.
It predicts a residual over the retouched image; the last conv starts at zero (identity).
"""

from collections.abc import Mapping

import torch
from diffusers.configuration_utils import register_to_config

from ..types import RETOUCH_TYPES
from .base import Model
from .conv_unet import ConvUNet
from .ops import to_signed

# retouched image + one residual per retouch type + the shared expert's residual
IN_CHANNELS = 3 * (1 + len(RETOUCH_TYPES) + 1)


class Merger(Model):
    """Residual fusion UNet; `block_out_channels` lists every level, the bottleneck last."""

    @register_to_config
    def __init__(self, block_out_channels: tuple[int, ...] = (64, 128, 256, 512, 1024), norm_num_groups: int = 32):
        super().__init__()
        self.unet = ConvUNet(IN_CHANNELS, tuple(block_out_channels), norm_num_groups)

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
        x = torch.cat([to_signed(retouched), expert_residuals.flatten(1, 2), shared_residual], dim=1)
        return (retouched + self.unet(x)).clamp(0, 1)
