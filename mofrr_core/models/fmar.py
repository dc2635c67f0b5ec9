"""FMAR, FRRffusion's facial morpho-architectonic restorer: the coarse, low-resolution stage.

A conditional diffusion UNet at a low working size (reference 256 x 256, guided-diffusion
layout, 124 M parameters, T = 1000, epsilon); sampled here with DDIM. HFDG then brings the
result back to full resolution.
"""

import torch

from ..diffusion import FMAR_TIMESTEPS
from .ops import to_unit
from .pixel_diffusion import PixelCondition, PixelDiffusion


class FMAR(PixelDiffusion):
    """Low-resolution restorer; its output stays at the working size."""

    default_timesteps = FMAR_TIMESTEPS

    def decode(self, x0: torch.Tensor, cond: PixelCondition) -> torch.Tensor:
        """The restored low-resolution image in [0, 1]."""
        return to_unit(x0).clamp(0, 1)
