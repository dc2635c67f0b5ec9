"""MoFRR's shared expert: always active, a plain conditional DDIM in pixel space.

No wavelets, unlike the WaveFRR experts, so the two kinds make different errors; it runs at
a reduced working size and only its residual is brought back to the full image.
"""

import torch

from .ops import resize, to_unit
from .pixel_diffusion import PixelCondition, PixelDiffusion


class SharedExpert(PixelDiffusion):
    """Pixel-space restorer over all retouch types (T = 200 like the WaveFRR experts)."""

    def decode(self, x0: torch.Tensor, cond: PixelCondition) -> torch.Tensor:
        """Full-size restored image: retouched + the working-size residual resized back, in [0, 1]."""
        residual = to_unit(x0) - to_unit(cond.working)
        return (cond.retouched + resize(residual, cond.retouched.shape[-2:])).clamp(0, 1)
