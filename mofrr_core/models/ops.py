"""Small tensor helpers shared by the networks: value ranges, padding, resizing, identity init."""

import torch
import torch.nn.functional as F
from torch import nn


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """Map images from [0, 1] to the [-1, 1] range the networks work in."""
    return images * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] values back to the [0, 1] image range (no clamping)."""
    return (x + 1) / 2


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right edges so height and width are multiples of `multiple`.

    Fully convolutional nets with down-sampling need this for arbitrary image sizes; undo it
    with `crop`.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Keep the top-left `size` (height, width) of a padded tensor."""
    return x[..., : size[0], : size[1]]


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize to `size`: area averaging when shrinking (no aliasing), bilinear otherwise."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[-2:]) == size:
        return x
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def plane(values, like: torch.Tensor) -> torch.Tensor:
    """Broadcast one scalar per sample (a float, a 0-d or a (B,) tensor) into a (B, 1, H, W) map.

    The map takes the batch size, spatial size, device and dtype of `like`.
    """
    b, _, h, w = like.shape
    values = torch.as_tensor(values, device=like.device, dtype=like.dtype).reshape(-1)
    return values.expand(b).reshape(b, 1, 1, 1).expand(b, 1, h, w)


def zero_init_(module: nn.Module) -> nn.Module:
    """Zero a layer's weight and bias so a residual branch ending in it starts as the identity."""
    nn.init.zeros_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def highpass(x: torch.Tensor) -> torch.Tensor:
    """x minus its 3 x 3 binomial blur, per channel: the fine texture and resampling traces that
    smoothing and warps change, which a network sees poorly in the raw image."""
    kernel = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    kernel = (kernel[:, None] * kernel[None]) / 16
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(x.shape[1], 1, 3, 3), groups=x.shape[1])
    return x - blurred


_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.950456, 1.0, 1.088754)


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> CIE Lab (L in [0, 100], D65): OpenCV's float conversion, without its lookup tables."""
    x = images.float().clamp(0, 1)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, device=x.device) / torch.tensor(_WHITE, device=x.device)[:, None]
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    light = torch.where(xyz[:, 1] > 0.008856, 116 * f[:, 1] - 16, 903.3 * xyz[:, 1])
    return torch.stack([light, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)
