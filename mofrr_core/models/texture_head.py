"""The router's texture head: smoothing and the warps read from where a face has lost its fine detail.

Smoothing flattens the skin but not the hair, brows, eyes, neck or background. A warp resamples
what it moves, which softens it: eye enlargement magnifies the eyes, face slimming shifts the
lower face sideways by fractions of a pixel and so softens it, most of all across (second
differences across the face).
The energy of a few frequency bands per face region, read against the other regions, tells
those apart from a soft camera or a compressed photo; the landmark layout (`eye_frame`: a
narrow jaw, wide eyes) is read alongside. The image heads learned these cues on the training
photos only; this read carries to photos from other sources (see the README's Evaluation section).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .face_regions import face_regions, per_face
from .landmark_head import LANDMARKS, eye_frame
from .reading_head import ReadingHead

SIGMAS = (0.6, 1.2, 2.5, 5.0)
REGIONS = (
    "skin", "forehead", "neck", "ring", "eyes", "eye_surround", "brows", "lips",
    "jaw", "outside", "top", "nose", "slim", "temple", "centre",
)
PER_REGION = 2 * len(SIGMAS) + 4
FEATURES = PER_REGION * len(REGIONS) + 2 * LANDMARKS


def _second_differences(gray: np.ndarray) -> list[np.ndarray]:
    """Across and along second differences at steps 1 and 2 (zero at the border)."""
    out = []
    for step in (1, 2):
        across, along = np.zeros_like(gray), np.zeros_like(gray)
        across[:, step:-step] = gray[:, : -2 * step] - 2 * gray[:, step:-step] + gray[:, 2 * step :]
        along[step:-step] = gray[: -2 * step] - 2 * gray[step:-step] + gray[2 * step :]
        out += [across, along]
    return out


def texture_features(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] and its 68 landmarks -> (FEATURES,): per region, the log mean square and
    log median magnitude of each difference-of-Gaussians band and the log mean square of each second
    difference; then the landmarks in the eye frame."""
    gray = cv2.cvtColor(np.ascontiguousarray(image, np.float32), cv2.COLOR_RGB2GRAY)
    blurred = [gray] + [cv2.GaussianBlur(gray, (0, 0), s) for s in SIGMAS]
    bands = [fine - coarse for fine, coarse in zip(blurred, blurred[1:])]
    differences = _second_differences(gray)
    regions = face_regions(lm, image.shape[:2])
    stats = []
    for name in REGIONS:
        mask = regions[name] if regions[name].sum() >= 10 else np.ones(gray.shape, bool)
        for band in bands:
            values = np.abs(band[mask])
            stats += [np.log(np.mean(values**2) + 1e-8), np.log(np.median(values) + 1e-5)]
        stats += [np.log(np.mean(d[mask] ** 2) + 1e-8) for d in differences]
    layout = eye_frame(torch.from_numpy(np.asarray(lm, np.float32))[None])[0].numpy()
    return np.concatenate([np.asarray(stats, np.float32), layout]).astype(np.float32)


class TextureHead(ReadingHead):
    """Smoothing and the warps (presence, degree) from texture statistics and the landmark layout."""

    size = FEATURES

    def measure(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return per_face(images, landmarks, texture_features, FEATURES)
