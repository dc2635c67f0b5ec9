"""WaveFRR, MoFRR's retouch-specific expert: conditional diffusion on the wavelet LL_LL band.

Flow: `condition` splits the retouched image (in [-1, 1]) into a 2-level Haar pyramid; the
DDIM loop calls `denoise(x_t, t, cond)` on LL_LL-sized x_t, re-running the IDEM on every
x_t; `refine_and_merge` refines the high bands of both levels with the HFCAMs, guided by
the restored LL_LL, and inverts the pyramid. Only LL_LL (1/4 of the side) is diffused,
which keeps every step cheap.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from ..diffusion import MOFRR_TIMESTEPS
from ..types import check_type
from ..wavelets import HaarPyramid, WaveletBands
from .base import Model
from .denoiser import ConditionalUNet, DiffusionRestorer
from .hfcam import HFCAM
from .idem import IDEM
from .ops import crop, pad_to_multiple, plane, to_signed, to_unit

# retouched LL_LL (3) + x_t (3) + degree map (1) + IDEM output (3)
UNET_IN_CHANNELS = 10


@dataclass
class WaveCondition:
    """What one retouched batch conditions the expert with; `size` is the unpadded image size."""

    bands: WaveletBands
    degree_map: torch.Tensor
    size: tuple[int, int]


@dataclass
class WaveFRROutput(BaseOutput):
    """`prediction`: noise or x0 per `prediction_type`; `prior`: the IDEM output R."""

    prediction: torch.Tensor
    prior: torch.Tensor


class WaveFRRExpert(DiffusionRestorer, Model):
    """One retouch type's restorer. Images in [0, 1]; degree per image in [0, 1].

    `unet` holds the `build_unet` keywords (reference: block_out_channels (64, 128, 192, 256),
    2 layers per block, attention at level index 2 and the middle, 20.8 M parameters).
    """

    @register_to_config
    def __init__(
        self,
        unet: Mapping,
        retouch_type: str = "whitening",
        idem_hidden: int = 28,
        hfcam_channels: int = 64,
        prediction_type: str = "epsilon",
        residual: bool = False,
        num_train_timesteps: int = MOFRR_TIMESTEPS,
    ):
        super().__init__()
        check_type(retouch_type)
        self.wavelets = HaarPyramid()
        self.idem = IDEM(hidden=idem_hidden)
        self.denoiser = ConditionalUNet(UNET_IN_CHANNELS, unet, prediction_type, residual)
        self.hfcam_level2 = HFCAM(hfcam_channels)
        self.hfcam_level1 = HFCAM(hfcam_channels)

    def condition(self, retouched: torch.Tensor, degree) -> WaveCondition:
        """Pyramid of the retouched images (B, 3, H, W) and the degree map (degree: float or (B,))."""
        size = tuple(retouched.shape[-2:])
        bands = self.wavelets.split(pad_to_multiple(to_signed(retouched), 4))
        return WaveCondition(bands, plane(degree, bands.ll_ll), size)

    def sample_shape(self, cond: WaveCondition) -> tuple[int, ...]:
        """Shape of x_t: that of LL_LL."""
        return tuple(cond.bands.ll_ll.shape)

    def prior(self, x_t: torch.Tensor, t, cond: WaveCondition) -> torch.Tensor:
        """IDEM output R for the current x_t (supervise toward clean LL_LL - retouched LL_LL)."""
        time_map = plane(torch.as_tensor(t, device=x_t.device) / self.config.num_train_timesteps, x_t)
        return self.idem(cond.bands.ll_ll, x_t, cond.degree_map, time_map)

    def forward(self, x_t: torch.Tensor, t, cond: WaveCondition) -> WaveFRROutput:
        """One network evaluation at timestep(s) `t`, the IDEM included."""
        ll_ll = cond.bands.ll_ll
        prior = self.prior(x_t, t, cond)
        stacked = torch.cat([ll_ll, x_t, cond.degree_map, prior], dim=1)
        return WaveFRROutput(prediction=self.denoiser(stacked, t, base=ll_ll), prior=prior)

    def denoise(self, x_t: torch.Tensor, t, cond: WaveCondition) -> torch.Tensor:
        """The prediction alone, for samplers and `training_step`."""
        return self(x_t, t, cond).prediction

    def refine_bands(self, ll_ll: torch.Tensor, cond: WaveCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """High bands of level 2 and level 1 refined by the HFCAMs given the restored LL_LL."""
        return self.hfcam_level2(ll_ll, cond.bands.level2), self.hfcam_level1(ll_ll, cond.bands.level1)

    def refine_and_merge(self, ll_ll: torch.Tensor, cond: WaveCondition) -> torch.Tensor:
        """The restored image in [0, 1] at the input size, from a restored LL_LL."""
        image = self.wavelets.merge(ll_ll, *self.refine_bands(ll_ll, cond))
        return crop(to_unit(image), cond.size).clamp(0, 1)

    decode = refine_and_merge
