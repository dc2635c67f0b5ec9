"""The router's reading heads: a linear read of measurements taken around a face's 68 landmarks.

Each head (`LandmarkHead`, `ColourHead`, `TextureHead`) measures something a retouch changes
against what it leaves alone, standardises it (BatchNorm without affine, so the running statistics of
the training faces are the scale) and reads a presence logit and a degree per retouch type from it.
"""

from __future__ import annotations

import torch
from torch import nn


class ReadingHead(nn.Module):
    """Presence logits and degrees of `outputs` retouch types from `size` per-face measurements (`measure`)."""

    size = 0

    def __init__(self, outputs: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(self.size, affine=False)
        self.linear = nn.Linear(self.size, outputs)
        self.degree = nn.Linear(self.size, outputs)

    def measure(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, size) measurements, (B,) found); rows without landmarks get the batch's mean."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`images` (B, 3, H, W) in [0, 1], `landmarks` (B, 68, 2), NaN where no face was found ->
        (presence logits (B, outputs), degrees (B, outputs) in [0, 1], found (B,) bools)."""
        features, found = self.measure(images, landmarks)
        x = self.norm(features.to(self.linear.weight))
        return self.linear(x), torch.sigmoid(self.degree(x)), found
