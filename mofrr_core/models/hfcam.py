"""HFCAM, the high-frequency cross-attention module of WaveFRR (one per DWT level).

The restored LL_LL is the query; each high-frequency orientation band gives key and value.
Attention runs across channels, one C x C map per image row, so its cost grows linearly with
the image and works at any size; it is computed on (B, H, W, C) views, which cost no copy for
channels-last tensors. A dilated residual block (dilations 1-2-3-2-1) and a
projection back to the bands follow, and the input bands are added back:
y_H = x_H + Conv(CA(y0, x_H)). The projection starts at zero, so an untrained HFCAM is the
identity.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .ops import resize, zero_init_

ORIENTATIONS = 3


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, W, C), a view without a copy for channels-last tensors."""
    return x.permute(0, 2, 3, 1)


def _encoder(in_channels: int, channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1),
        nn.SiLU(),
        nn.Conv2d(channels, channels, 3, padding=1),
    )


class RowChannelAttention(nn.Module):
    """Cross attention between channels, computed independently for every image row.

    Queries and keys are L2-normalised along the row (with a learned temperature), so the
    attention does not depend on the image width.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv2d(channels, channels, 3, padding=1)
        self.key = nn.Conv2d(channels, channels, 3, padding=1)
        self.value = nn.Conv2d(channels, channels, 3, padding=1)
        self.project = nn.Conv2d(channels, channels, 3, padding=1)
        self.temperature = nn.Parameter(torch.ones(1))

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """`query` (B, C, H, W) attends to `context` (B * n, C, H, W): n context images per query image."""
        q = F.normalize(_pixels(self.query(query)), dim=-2)[:, None]
        b, _, h, w, c = q.shape
        k = F.normalize(_pixels(self.key(context)), dim=-2).reshape(b, -1, h, w, c)
        v = _pixels(self.value(context)).reshape(b, -1, h, w, c)
        attention = torch.softmax(q.transpose(-1, -2) @ k * self.temperature, dim=-1)
        return self.project((v @ attention.transpose(-1, -2)).flatten(0, 1).permute(0, 3, 1, 2))


class DilatedResidualBlock(nn.Module):
    """x + convs with dilations 1-2-3-2-1 (a wide receptive field at full resolution)."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = (1, 2, 3, 2, 1)):
        super().__init__()
        layers = []
        for d in dilations:
            layers += [nn.Conv2d(channels, channels, 3, padding=d, dilation=d), nn.SiLU()]
        self.body = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class HFCAM(nn.Module):
    """Refine one level's high bands (B, 3, 3, h, w) guided by the restored LL_LL (B, 3, h', w')."""

    def __init__(self, channels: int = 64, image_channels: int = 3):
        super().__init__()
        self.query_encoder = _encoder(image_channels, channels)
        self.band_encoder = _encoder(image_channels, channels)
        self.attention = RowChannelAttention(channels)
        self.fuse = nn.Conv2d((ORIENTATIONS + 1) * channels, channels, 3, padding=1)
        self.dilated = DilatedResidualBlock(channels)
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            zero_init_(nn.Conv2d(channels, ORIENTATIONS * image_channels, 3, padding=1)),
        )

    def _fuse(self, query: torch.Tensor, attended: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """`fuse` over [query, attended bands] stacked on channels, as a sum of convolutions over each
        part: stacking channels-last tensors would copy them."""
        weights = self.fuse.weight.chunk(len(attended) + 1, dim=1)
        fused = F.conv2d(query, weights[0], self.fuse.bias, padding=1)
        for part, weight in zip(attended, weights[1:]):
            fused = fused + F.conv2d(part, weight, padding=1)
        return fused

    def forward(self, ll_ll: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
        b, c, o, h, w = bands.shape
        query = self.query_encoder(resize(ll_ll, (h, w)))
        per_band = bands.permute(0, 2, 1, 3, 4).reshape(b * o, c, h, w)
        attended = self.attention(query, self.band_encoder(per_band)).unflatten(0, (b, o)).unbind(1)
        fused = self._fuse(query, attended)
        update = self.head(self.dilated(fused))
        return bands + update.reshape(b, o, c, h, w).permute(0, 2, 1, 3, 4)
