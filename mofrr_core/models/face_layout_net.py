"""A small CNN that reads a retouch from the face's colour layout relative to its own skin, on the face alone.

Shown whole aligned crops, such a network learns what surrounds the face in its training photos
(UTKFace's crops are 58 % mirror image) and does not carry over to other photos (whitening ROC AUC
0.75-0.81 on the evaluation photos). Zeroed outside the face polygon and measured against the skin's
median colour, it learns the face itself: 0.93-0.95 there (see the README's Evaluation findings).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from ..retouch.skin import _poly, face_polygon
from .base import Model
from .face_regions import face_regions
from .ops import rgb_to_lab

LAB_SCALE = (12.0, 6.0, 6.0)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.GELU())


def _reader(w: int, outputs: int) -> nn.Sequential:
    """Seven conv blocks (three of them halving the side), mean over the face, one linear read."""
    blocks = (_block(3, w), _block(w, w), _block(w, 2 * w, 2), _block(2 * w, 2 * w), _block(2 * w, 3 * w, 2), _block(3 * w, 3 * w), _block(3 * w, 4 * w, 2))
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, outputs))


class FaceLayoutNet(Model):
    """Presence logits of `outputs` retouch types from aligned face crops in [0, 1].

    `template`: 68 landmarks of an aligned crop in units of its side (the training crops' mean); it places
    the skin (for the reference colour) and the face polygon (`forehead` face lengths above the brows,
    grown by `ring` pixels at `size`), outside which the input is zero. Without it, the masks are those of
    the saved weights, or of `set_template` (training measures the template on its own crops). The logits are
    the mean of `members` CNNs trained side by side: one alone ranks the evaluation faces anywhere between
    ROC AUC 0.92 and 0.95 from one training run to the next."""

    @register_to_config
    def __init__(
        self, template: tuple = (), size: int = 64, width: int = 16, outputs: int = 1, forehead: float = 0.4, ring: int = 1, members: int = 1
    ):
        super().__init__()
        self.register_buffer("skin", torch.zeros(size, size, dtype=torch.bool))
        self.register_buffer("face", torch.zeros(size, size, dtype=torch.bool))
        if len(template):
            self.set_template(template)
        self.nets = nn.ModuleList(_reader(width, outputs) for _ in range(members))

    @torch.no_grad()
    def set_template(self, template) -> None:
        """Place the skin and face masks from 68 template landmarks (units of the crop's side)."""
        size = self.config.size
        points = np.asarray(template, np.float32).reshape(68, 2) * size
        face = np.zeros((size, size), np.float32)
        _poly(face, face_polygon(points, self.config.forehead), 1.0)
        face = cv2.dilate(face, np.ones((2 * self.config.ring + 1,) * 2, np.uint8))
        self.skin.copy_(torch.from_numpy(face_regions(points, (size, size))["skin"]))
        self.face.copy_(torch.from_numpy(face > 0.5))

    def layout(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The network's input: Lab at `size`, minus the skin's median, scaled, zero outside the face.
        `images`: (B, 3, H, W), or (3, h, w) crops of any sizes."""
        side = (self.config.size,) * 2
        if isinstance(images, torch.Tensor):
            small = F.interpolate(images.float(), size=side, mode="area")
        else:
            small = torch.cat([F.interpolate(image[None].float(), size=side, mode="area") for image in images])
        lab = rgb_to_lab(small.to(self.face.device))
        reference = lab[:, :, self.skin].median(dim=2).values[:, :, None, None] if self.skin.any() else lab.mean((2, 3), keepdim=True)
        scale = torch.tensor(LAB_SCALE, device=lab.device)[None, :, None, None]
        return (lab - reference) / scale * self.face

    def read_each(self, layouts: torch.Tensor) -> torch.Tensor:
        """Each member's presence logits (members, B, outputs) from `layout`'s output."""
        x = layouts.to(self.face.device, next(self.parameters()).dtype)
        return torch.stack([member(x) for member in self.nets])

    def read(self, layouts: torch.Tensor) -> torch.Tensor:
        """Presence logits (B, outputs) from `layout`'s output."""
        return self.read_each(layouts).mean(0)

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        return self.read(self.layout(images))
