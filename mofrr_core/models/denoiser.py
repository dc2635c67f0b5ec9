"""The concat-conditioned UNet denoiser every diffusion model here is built on, and sampling.

All three diffusion models (WaveFRR expert, shared expert, FMAR) feed a diffusers
`UNet2DModel` with x_t and their conditions stacked on channels. Two parameterisations:
"epsilon" (the papers) and "sample"; with "sample" and `residual=True` the UNet predicts
x0 minus a base (the retouched input in the diffused space) and its last conv starts at
zero, so an untrained model is exactly the identity, which is what trains fast on CPU.
"""

from collections.abc import Mapping

import torch
from diffusers import UNet2DModel
from torch import nn

from ..diffusion import ddim_sample, make_scheduler
from .ops import crop, pad_to_multiple, zero_init_

PREDICTION_TYPES = ("epsilon", "sample")


def check_prediction(prediction_type: str, residual: bool) -> None:
    """Reject unknown parameterisations and a residual output on an epsilon prediction."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
    if residual and prediction_type != "sample":
        raise ValueError("residual=True needs prediction_type='sample' (the residual is x0 - input)")


def build_unet(
    in_channels: int,
    out_channels: int,
    block_out_channels: tuple[int, ...],
    layers_per_block: int = 2,
    attention_levels: tuple[int, ...] = (),
    mid_attention: bool = True,
    norm_num_groups: int = 32,
    attention_head_dim: int = 8,
    class_embed_type: str | None = None,
) -> UNet2DModel:
    """A `UNet2DModel` from a compact description: self-attention at the given level indices."""
    levels = range(len(block_out_channels))
    down = tuple("AttnDownBlock2D" if i in attention_levels else "DownBlock2D" for i in levels)
    up = tuple("AttnUpBlock2D" if i in attention_levels else "UpBlock2D" for i in reversed(levels))
    return UNet2DModel(
        in_channels=in_channels,
        out_channels=out_channels,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        down_block_types=down,
        up_block_types=up,
        add_attention=mid_attention,
        norm_num_groups=norm_num_groups,
        attention_head_dim=attention_head_dim,
        class_embed_type=class_embed_type,
    )


class ConditionalUNet(nn.Module):
    """UNet2DModel over channel-stacked [conditions, x_t]; pads any size to what the UNet needs.

    `unet` is the `build_unet` keyword dict (block_out_channels, layers_per_block, ...). With
    `embedded`, each call also takes a (B, `embedding_dim`) embedding added to the timestep's.
    """

    def __init__(self, in_channels: int, unet: Mapping, prediction_type: str, residual: bool, embedded: bool = False):
        super().__init__()
        check_prediction(prediction_type, residual)
        self.residual = residual
        self.unet = build_unet(in_channels, 3, **unet, class_embed_type="identity" if embedded else None)
        self.embedding_dim = 4 * unet["block_out_channels"][0]
        self.size_multiple = 2 ** (len(unet["block_out_channels"]) - 1)
        if residual:
            zero_init_(self.unet.conv_out)

    def forward(self, stacked: torch.Tensor, t: torch.Tensor, base: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Evaluate on `stacked` inputs at timestep(s) `t` (with `embedding` when embedded); add `base` when residual."""
        size = stacked.shape[-2:]
        output = crop(self.unet(pad_to_multiple(stacked, self.size_multiple), t, class_labels=embedding).sample, size)
        return base + output if self.residual else output


class DiffusionRestorer:
    """Sampling for a conditional diffusion model (a mixin for the ModelMixin classes).

    A model provides `condition(*inputs)`, `sample_shape(cond)`, `denoise(x_t, t, cond)` and
    `decode(x0, cond)`, and has `prediction_type` and `num_train_timesteps` in its config.
    """

    def scheduler(self):
        """The DDIM scheduler matching this model's training schedule."""
        return make_scheduler(self.config.num_train_timesteps, self.config.prediction_type)

    @torch.no_grad()
    def restore(self, *inputs, steps: int = 10, generator=None, eta: float = 0.0, callback=None):
        """Condition on `inputs`, run DDIM for `steps` steps and decode the final x0 prediction."""
        cond = self.condition(*inputs)
        x0 = ddim_sample(
            lambda x_t, t: self.denoise(x_t, t, cond),
            self.sample_shape(cond),
            steps=steps,
            generator=generator,
            eta=eta,
            callback=callback,
            scheduler=self.scheduler(),
            device=self.device,
            dtype=self.dtype,
        )
        return self.decode(x0, cond)
