"""Unsmooth: skin smoothing undone by amplifying the fine detail it left, by a gain field on the face.

A smoothing filter blends the skin toward a flattened copy of itself, so the fine detail left in
the skin (the photo minus an edge-preserving smoothing of it) is the original's, scaled down. Scaling it back up
restores it. How much, and where, depends on the degree and on where the tool's skin mask lies:
gain templates in the face's landmark frame, one per degree knot, fitted to training pairs
(`mofrr_core.training.unsmooth_fit`) and trained further on the restored photos, learn both; all
zeros, they are the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config

from .base import Model
from .landmark_frames import Frame, frame_grid, read_template, routed_subset

# the face from the top of the forehead to the chin, across the cheeks
FRAME = Frame("face", (-1.6, 1.6), (-0.9, 1.2))


def box_mean(images: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over (2 radius + 1)^2 windows of (B, C, H, W) images, borders reflected (rows, then columns)."""
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    side = 2 * radius + 1
    return F.avg_pool2d(F.avg_pool2d(padded, (side, 1), stride=1), (1, side), stride=1)


def guided_filter(images: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Self-guided filter (He et al.) per channel: flattens fine texture, keeps strong edges."""
    mean = box_mean(images, radius)
    var = box_mean(images * images, radius) - mean * mean
    a = var / (var + eps)
    return box_mean(a, radius) * images + box_mean(mean - a * mean, radius)


class Unsmooth(Model):
    """Detail-gain templates in the face frame: `knots` templates of `grid` x `grid` cells, the gain over 1 at
    degrees 1/knots, 2/knots, ..., 1 (linear in between, 0 at degree 0), on the detail an edge-preserving
    (self-guided) filter of `radius` times the crop side and `eps` removes. `routed_types`: () to undo
    smoothing only where the caller names it."""

    @register_to_config
    def __init__(self, grid: int = 32, knots: int = 4, radius: float = 0.047, eps: float = 0.01,
                 routed_types: tuple[str, ...] | None = None):
        super().__init__()
        self.retouch_types = ("smoothing",)
        self.routed = routed_subset(self.retouch_types, routed_types)
        self.templates = torch.nn.Parameter(torch.zeros(knots, 1, grid, grid))

    def detail(self, images: torch.Tensor) -> torch.Tensor:
        """The detail the gain acts on: the crops minus their edge-preserving smoothing."""
        radius = max(1, min(round(self.config.radius * max(images.shape[-2:])), min(images.shape[-2:]) - 1))
        return images - guided_filter(images, radius, self.config.eps)

    def knot_weights(self, degrees: torch.Tensor) -> torch.Tensor:
        """(B,) degrees in [0, 1] -> (B, knots) linear interpolation weights of the knots."""
        knots = self.config.knots
        centres = torch.arange(1, knots + 1, device=degrees.device, dtype=degrees.dtype)
        return (1 - (degrees[:, None] * knots - centres).abs()).clamp_min(0)

    def gain(self, landmarks: torch.Tensor, degrees: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The gain over 1 (B, 1, H, W), float32, for faces with these (B, 68, 2) landmarks (NaN: none) and (B, 1) degrees."""
        found = torch.isfinite(landmarks).flatten(1).all(dim=1)
        landmarks = torch.nan_to_num(landmarks.float())
        weights = self.knot_weights(degrees[:, 0].float().clamp(0, 1) * found)
        grid, _ = frame_grid(landmarks, FRAME, height, width)
        return sum(weights[:, k, None, None, None] * read_template(self.templates[k].float(), grid) for k in range(self.config.knots))

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) retouched crops in [0, 1] -> the crops with smoothing of these (B, 1) degrees undone
        (computed in float32: the detail is a small difference of two images)."""
        x = images.float()
        gain = self.gain(landmarks.to(images.device), degrees.to(images.device), *images.shape[-2:])
        return (x + gain * self.detail(x)).clamp(0, 1).to(images.dtype)
