"""FMAR's colour condition: the skin's colour statistics, which tell a whitened face from a pale one.

A restorer that sees only pixels cannot know whether a light face was whitened or was light already:
FMAR trained longer moved every face's colour on photos from other sources (see the README's
Evaluation section). The router's colour head separates the two across sources from the skin's Lab
statistics measured against the lips, eyes, brows, neck and forehead (`colour_features`); here the
same measurements, standardised on training faces, are projected onto the UNet's timestep embedding.
The projection starts at zero, so a restorer it is added to keeps what it did until it learns to use it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..faces import crop_landmarks
from .colour_head import FEATURES, colour_features
from .face_regions import per_face
from .ops import zero_init_


class ColourCondition(nn.Module):
    """(B, 3, H, W) faces in [0, 1] -> (B, `dim`) embeddings of their colour statistics (zero where no face is found)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(FEATURES))
        self.register_buffer("scale", torch.ones(FEATURES))
        self.project = zero_init_(nn.Linear(FEATURES, dim))

    @property
    def fitted(self) -> bool:
        """Whether the standardisation has been set (`fit`); a fresh one is the identity."""
        return bool(self.mean.any() or (self.scale != 1).any())

    @torch.no_grad()
    def measure(self, images: torch.Tensor, landmarks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, FEATURES) statistics, (B,) found); landmarks are dlib's on the images themselves unless given."""
        landmarks = crop_landmarks(images) if landmarks is None else landmarks
        return per_face(images, landmarks, colour_features, FEATURES)

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> None:
        """Standardise on the statistics (N, FEATURES) of training faces."""
        self.mean.copy_(features.mean(0))
        self.scale.copy_(features.std(0).clamp_min(1e-3))

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        features, found = self.measure(images, landmarks)
        standard = (features.to(self.mean) - self.mean) / self.scale
        standard = torch.where(found[:, None].to(standard.device), standard, torch.zeros_like(standard))
        return self.project(standard.to(self.project.weight.dtype))
