"""Conditional pixel-space diffusion at a fixed working size: the base of SharedExpert and FMAR.

The retouched image is resized to the working size (`sample_size`, square) and stacked on
channels with x_t; the UNet predicts noise or the clean image (residually over the resized
retouched image with "sample" + `residual=True`). Subclasses decide what to do with the
restored working-size image in `decode`. With `colour_condition`, the face's colour statistics
(`ColourCondition`) are added to the timestep embedding: what tells a whitened face from a pale one.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import register_to_config

from .base import Model
from .colour_condition import ColourCondition
from .denoiser import ConditionalUNet, DiffusionRestorer
from .ops import resize, to_signed

# retouched image (3) + x_t (3)
UNET_IN_CHANNELS = 6


@dataclass
class PixelCondition:
    """The retouched images in [0, 1] at their own size, in [-1, 1] at the working size, and their colour
    embedding (None without a colour condition)."""

    retouched: torch.Tensor
    working: torch.Tensor
    colour: torch.Tensor | None = None


class PixelDiffusion(DiffusionRestorer, Model):
    """UNet2DModel over [retouched, x_t] at `sample_size`; `unet` holds the `build_unet` keywords.

    `num_train_timesteps` defaults to the subclass's `default_timesteps`.
    """

    default_timesteps = 200

    @register_to_config
    def __init__(
        self,
        unet: Mapping,
        sample_size: int = 256,
        prediction_type: str = "epsilon",
        residual: bool = False,
        num_train_timesteps: int | None = None,
        colour_condition: bool = False,
    ):
        super().__init__()
        if num_train_timesteps is None:
            self.register_to_config(num_train_timesteps=self.default_timesteps)
        self.denoiser = ConditionalUNet(UNET_IN_CHANNELS, unet, prediction_type, residual, embedded=colour_condition)
        self.colour = ColourCondition(self.denoiser.embedding_dim) if colour_condition else None

    def condition(self, retouched: torch.Tensor, size: tuple[int, int] | None = None) -> PixelCondition:
        """Condition on retouched images (B, 3, H, W) in [0, 1]; `size` overrides the working size. The colour
        condition reads dlib's landmarks, found on the images themselves (as in training)."""
        size = size or (self.config.sample_size, self.config.sample_size)
        colour = None if self.colour is None else self.colour(retouched)
        return PixelCondition(retouched, to_signed(resize(retouched, size)), colour)

    def sample_shape(self, cond: PixelCondition) -> tuple[int, ...]:
        """Shape of x_t: the working-size image batch."""
        return tuple(cond.working.shape)

    def denoise(self, x_t: torch.Tensor, t, cond: PixelCondition) -> torch.Tensor:
        """One network evaluation at timestep(s) `t`."""
        colour = () if cond.colour is None else (cond.colour,)
        return self.denoiser(torch.cat([cond.working, x_t], dim=1), t, cond.working, *colour)

    forward = denoise
