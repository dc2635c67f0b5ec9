"""Two-level orthonormal Haar wavelet pyramid, the frequency split WaveFRR diffuses in.

Built on pytorch_wavelets (`wave="haar"`, `mode="zero"`). Level 1 splits an image into LL and
three high bands at half size; level 2 splits that LL again into LL_LL and three bands at a
quarter size. The inverse is exact up to float rounding. Band tensors use the
pytorch_wavelets layout (B, C, 3, h, w), the 3 being the LH, HL and HH orientations.
"""

import warnings
from typing import NamedTuple

import torch
from torch import nn

with warnings.catch_warnings():
    # pytorch-wavelets 1.3.0 imports the deprecated pkg_resources; users need not see that.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from pytorch_wavelets import DWTForward, DWTInverse


class WaveletBands(NamedTuple):
    """A two-level decomposition: LL_LL (B,C,H/4,W/4) and the level-2 and level-1 high bands."""

    ll_ll: torch.Tensor
    level2: torch.Tensor
    level1: torch.Tensor


def _filters_not_saved(module: nn.Module) -> nn.Module:
    """Keep the fixed filter taps out of the state dict (they are constants, not weights)."""
    for name, buffer in list(module._buffers.items()):
        module.register_buffer(name, buffer, persistent=False)
    return module


class HaarPyramid(nn.Module):
    """`split` an image into a 2-level Haar pyramid and `merge` it back.

    Height and width must be multiples of 4. The filter buffers follow `.to(device, dtype)`.
    """

    def __init__(self):
        super().__init__()
        self.forward_transform = _filters_not_saved(DWTForward(J=1, wave="haar", mode="zero"))
        self.inverse_transform = _filters_not_saved(DWTInverse(wave="haar", mode="zero"))

    def split_level(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One DWT level: (LL at half size, high bands (B, C, 3, H/2, W/2))."""
        low, (high,) = self.forward_transform(x)
        return low, high

    def merge_level(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Inverse of `split_level`."""
        return self.inverse_transform((low, [high]))

    def split(self, x: torch.Tensor) -> WaveletBands:
        """Two DWT levels: LL_LL, level-2 high bands (H/4) and level-1 high bands (H/2)."""
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"height and width must be multiples of 4, got {tuple(x.shape[-2:])}")
        low, level1 = self.split_level(x)
        ll_ll, level2 = self.split_level(low)
        return WaveletBands(ll_ll, level2, level1)

    def merge(self, ll_ll: torch.Tensor, level2: torch.Tensor, level1: torch.Tensor) -> torch.Tensor:
        """Exact inverse of `split`."""
        return self.merge_level(self.merge_level(ll_ll, level2), level1)
