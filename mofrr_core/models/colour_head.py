"""The router's colour head: whitening read from how the skin's colour stands against the rest of the face.

Whitening lifts and de-yellows the skin but leaves the lips, eyes, brows and often the neck as they
were. Lighting and white balance move all of them together, so the skin's Lab colour measured
against those regions separates whitened faces from pale ones on photos from other sources, where
the image heads, trained on a few hundred photos, did not (see the README's Evaluation section).
With a `FaceLayoutNet`, its logit adds to the linear read: the CNN sees where on the face the colour
changed, which a handful of statistics cannot say.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .face_layout_net import FaceLayoutNet
from .face_regions import face_regions, per_face
from .reading_head import ReadingHead

STATS = 5
REGIONS = ("lips", "eyes", "brows", "neck", "ring", "forehead")
FEATURES = STATS + STATS * len(REGIONS) + 3


def _stats(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median L, a, b and the 10th and 90th percentile of L inside `mask` (the whole image if it is nearly empty)."""
    values = lab[mask] if mask.sum() > 10 else lab.reshape(-1, 3)
    return np.concatenate([np.median(values, axis=0), np.percentile(values[:, 0], [10, 90])])


def colour_features(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] and its 68 landmarks -> (FEATURES,) skin colour statistics, then the skin's
    minus each region's, then the skin's minus the eye whites' (the brightest quarter of the eyes)."""
    lab = cv2.cvtColor(np.ascontiguousarray(image, np.float32), cv2.COLOR_RGB2Lab)
    regions = face_regions(lm, image.shape[:2])
    skin = _stats(lab, regions["skin"])
    eyes = lab[regions["eyes"]] if regions["eyes"].sum() > 8 else lab.reshape(-1, 3)
    whites = eyes[eyes[:, 0] >= np.percentile(eyes[:, 0], 75)].mean(0)
    return np.concatenate([skin, *(skin - _stats(lab, regions[r]) for r in REGIONS), skin[:3] - whites]).astype(np.float32)


class ColourHead(ReadingHead):
    """Whitening (presence, degree) from skin colour statistics, and from the face's colour layout (`layout`)."""

    size = FEATURES

    def __init__(self, outputs: int, layout: FaceLayoutNet | None = None):
        super().__init__(outputs)
        self.layout = layout

    def forward(self, images, landmarks):
        presence, degree, found = super().forward(images, landmarks)
        if self.layout is not None:
            presence = presence + self.layout(images).to(presence)
        return presence, degree, found

    def measure(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return per_face(images, landmarks, colour_features, FEATURES)
