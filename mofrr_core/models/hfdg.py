"""HFDG, FRRffusion's hyperrealistic facial detail generator: the fine, super-resolution stage.

A HAT-style transformer (reference: HAT x4, 20.8 M parameters): a shallow conv, residual
groups of hybrid attention blocks (window self-attention on (shifted) windows plus a
channel-attention conv branch), a conv, and a pixel-shuffle upsampler. It reads FMAR's
low-resolution output together with the high-resolution retouched image folded to the low
resolution by pixel-unshuffle, so real detail can be kept where nothing was retouched. It
predicts a residual over a base image: the bicubic upsample of the FMAR output ("upsampled"), the
high-resolution retouched image ("retouched"), or the retouched image plus the upsampled change FMAR
made to its low-resolution copy ("transfer": FMAR's low-frequency restoration, the real detail of
the photo); the last conv starts at zero.
"""

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import Model
from .ops import crop, pad_to_multiple, resize, to_signed, zero_init_

BASES = ("upsampled", "retouched", "transfer")


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, windows, window * window, C)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c).transpose(2, 3)
    return x.reshape(b, -1, window * window, c)


def window_merge(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of `window_partition`."""
    b, _, _, c = windows.shape
    x = windows.reshape(b, h // window, w // window, window, window, c).transpose(2, 3)
    return x.reshape(b, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, shift: int, like: torch.Tensor) -> torch.Tensor:
    """Additive mask (windows, N, N) that stops tokens wrapped around by the cyclic shift from mixing."""
    regions = torch.zeros(1, h, w, 1, device=like.device)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for label, (rows, cols) in enumerate((r, c) for r in cuts for c in cuts):
        regions[:, rows, cols] = label
    labels = window_partition(regions, window).squeeze(-1).squeeze(0)
    different = labels[:, :, None] != labels[:, None, :]
    return torch.zeros(different.shape, device=like.device, dtype=like.dtype).masked_fill(different, float("-inf"))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative position bias."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]) + (window - 1)
        self.register_buffer("bias_index", relative[0] * (2 * window - 1) + relative[1], persistent=False)

    def forward(self, windows: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, nw, n, c = windows.shape
        q, k, v = self.qkv(windows).reshape(b, nw, n, 3, self.heads, c // self.heads).permute(3, 0, 1, 4, 2, 5)
        bias = self.bias_table[self.bias_index].permute(2, 0, 1).to(q.dtype)
        attn_mask = bias if mask is None else bias + mask[:, None]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(2, 3).reshape(b, nw, n, c))


class ChannelAttentionBlock(nn.Module):
    """HAT's CAB: two 3x3 convs through a narrower width, then squeeze-and-excitation."""

    def __init__(self, dim: int, compress_ratio: int, squeeze_factor: int):
        super().__init__()
        hidden, squeezed = max(1, dim // compress_ratio), max(1, dim // squeeze_factor)
        self.body = nn.Sequential(
            nn.Conv2d(dim, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, dim, 3, padding=1),
        )
        self.excite = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, squeezed, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, dim, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y * self.excite(y)


class HybridAttentionBlock(nn.Module):
    """x + W-MSA(LN x) + conv_scale * CAB(LN x), then x + MLP(LN x); tokens as (B, H, W, C)."""

    def __init__(self, dim, heads, window, shift, mlp_ratio, compress_ratio, squeeze_factor, conv_scale):
        super().__init__()
        self.window, self.shift, self.conv_scale = window, shift, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.attention = WindowAttention(dim, heads, window)
        self.conv = ChannelAttentionBlock(dim, compress_ratio, squeeze_factor)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        _, h, w, _ = x.shape
        y = self.norm1(x)
        conv = self.conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
        y = window_merge(self.attention(window_partition(y, self.window), mask), self.window, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y + self.conv_scale * conv
        return x + self.mlp(self.norm2(x))


class ResidualGroup(nn.Module):
    """Hybrid attention blocks (every second one on shifted windows), a 3x3 conv, a skip."""

    def __init__(self, dim, depth, heads, window, **block):
        super().__init__()
        self.blocks = nn.ModuleList(
            HybridAttentionBlock(dim, heads, window, shift=(i % 2) * (window // 2), **block) for i in range(depth)
        )
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            y = block(y, mask if block.shift else None)
        return x + self.conv(y.permute(0, 3, 1, 2))


class HFDG(Model):
    """Super-resolve FMAR's output by `upscale` (a power of 2), guided by the retouched image.

    `forward(low_res, retouched)`: both in [0, 1]; `retouched` (B, 3, H, W) sets the output
    size; `low_res` should be about H / upscale (it is resized if not). Any size works: inputs
    are padded to whole windows and the output cropped.
    """

    @register_to_config
    def __init__(
        self,
        upscale: int = 4,
        embed_dim: int = 180,
        depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        num_heads: int = 6,
        window_size: int = 16,
        mlp_ratio: float = 2.0,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = 0.01,
        upsampler_channels: int = 64,
        base: str = "upsampled",
    ):
        super().__init__()
        if upscale < 2 or upscale & (upscale - 1):
            raise ValueError(f"upscale must be a power of 2, got {upscale}")
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        block = dict(mlp_ratio=mlp_ratio, compress_ratio=compress_ratio, squeeze_factor=squeeze_factor, conv_scale=conv_scale)
        self.shallow = nn.Conv2d(3 * (1 + upscale**2), embed_dim, 3, padding=1)
        self.groups = nn.ModuleList(ResidualGroup(embed_dim, d, num_heads, window_size, **block) for d in depths)
        self.norm = nn.LayerNorm(embed_dim)
        self.after_body = nn.Conv2d(embed_dim, embed_dim, 3, padding=1)
        stages = []
        for _ in range(int(math.log2(upscale))):
            stages += [nn.Conv2d(upsampler_channels, 4 * upsampler_channels, 3, padding=1), nn.PixelShuffle(2)]
        self.upsampler = nn.Sequential(
            nn.Conv2d(embed_dim, upsampler_channels, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            *stages,
            zero_init_(nn.Conv2d(upsampler_channels, 3, 3, padding=1)),
        )

    def _features(self, low_res: torch.Tensor, high_res: torch.Tensor) -> torch.Tensor:
        window = self.config.window_size
        x = self.shallow(torch.cat([to_signed(low_res), F.pixel_unshuffle(to_signed(high_res), self.config.upscale)], 1))
        shift = window // 2
        mask = shifted_window_mask(x.shape[-2], x.shape[-1], window, shift, x) if shift else None
        y = x
        for group in self.groups:
            y = group(y, mask)
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.after_body(y)

    def _base(self, low_res: torch.Tensor, high_res: torch.Tensor) -> torch.Tensor:
        """The image the predicted residual is added to (see the module docstring)."""
        if self.config.base == "retouched":
            return high_res
        if self.config.base == "upsampled":
            return self._upsample(low_res)
        return high_res + self._upsample(low_res - resize(high_res, low_res.shape[-2:]))

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.config.upscale, mode="bicubic", align_corners=False)

    def forward(self, low_res: torch.Tensor, retouched: torch.Tensor) -> torch.Tensor:
        scale, window = self.config.upscale, self.config.window_size
        size = retouched.shape[-2:]
        high_res = pad_to_multiple(retouched, scale)
        low_res = resize(low_res, (high_res.shape[-2] // scale, high_res.shape[-1] // scale))
        low_res, high_res = pad_to_multiple(low_res, window), pad_to_multiple(high_res, scale * window)
        return crop(self._base(low_res, high_res) + self.upsampler(self._features(low_res, high_res)), size).clamp(0, 1)
