"""The router's texture head: smoothing and the warps read from where a face has lost its finest detail.

Smoothing flattens the skin but not the hair, brows, eyes, neck or background. A warp resamples
what it moves, which softens it: eye enlargement magnifies the eyes, face slimming shifts the
lower face sideways by fractions of a pixel and so softens it across the face, not along it.
Second differences across and along, per face region and read against the other regions, tell
those apart from a soft camera or a compressed photo. Edges (the jaw line, hair against the
background) carry most of a region's second-difference energy whatever was done to it, so the
differences are also measured on each region's flattest half, where the resampling stands out.
All of it is measured twice: on the gray image, where whitening changes the skin's differences too, and on a
lightness scale that whitening's lift only shifts (`lift_invariant`), where it leaves them as they were, so a
whitened face reads as smooth only where it was smoothed. The landmark layout (`eye_frame`: a narrow jaw, wide eyes) is read alongside. The image heads
learned these cues on the training photos only; this read carries to photos from other sources
(see the README's Evaluation section, which also says why coarser frequency bands are left out).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .face_regions import face_regions, per_face
from .landmark_head import LANDMARKS, eye_frame
from .reading_head import ReadingHead

REGIONS = (
    "skin", "forehead", "neck", "ring", "eyes", "eye_surround", "brows", "lips",
    "jaw", "outside", "top", "nose", "slim", "temple", "centre",
)
DIFFERENCES = 4
PER_REGION = 2 * DIFFERENCES
CHANNELS = 2
PER_CHANNEL = PER_REGION * len(REGIONS)
FEATURES = CHANNELS * PER_CHANNEL + 2 * LANDMARKS


def _second_differences(gray: np.ndarray) -> list[np.ndarray]:
    """Across and along second differences at steps 1 and 2 (zero at the border)."""
    out = []
    for step in (1, 2):
        across, along = np.zeros_like(gray), np.zeros_like(gray)
        across[:, step:-step] = gray[:, : -2 * step] - 2 * gray[:, step:-step] + gray[:, 2 * step :]
        along[step:-step] = gray[: -2 * step] - 2 * gray[step:-step] + gray[2 * step :]
        out += [across, along]
    return out


def lift_invariant(image: np.ndarray) -> np.ndarray:
    """Lab lightness L in [0, 1] as log(-log(1 - L)). Whitening lifts lightness to 1 - (1 - L)^(1 + k)
    (`retouch.whitening`), which only adds log(1 + k) here, so its differences do not change."""
    light = cv2.cvtColor(np.ascontiguousarray(image, np.float32), cv2.COLOR_RGB2Lab)[..., 0] / 100.0
    return np.log(-np.log1p(-np.clip(light, 0.02, 0.98))).astype(np.float32)


def _edge_strength(gray: np.ndarray) -> np.ndarray:
    """Gradient magnitude, blurred so that both sides of an edge count as edge."""
    return cv2.GaussianBlur(np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)), (0, 0), 2)


def texture_features(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] and its 68 landmarks -> (FEATURES,): for the gray image, then its `lift_invariant`
    lightness, per region the log mean square of each second difference over the region, then over its
    flattest half; then the landmarks in the eye frame."""
    gray = cv2.cvtColor(np.ascontiguousarray(image, np.float32), cv2.COLOR_RGB2GRAY)
    edges = _edge_strength(gray)
    regions = face_regions(lm, image.shape[:2])
    halves = []
    for name in REGIONS:
        mask = regions[name] if regions[name].sum() >= 10 else np.ones(gray.shape, bool)
        halves.append((mask, mask & (edges <= np.median(edges[mask]))))
    stats = []
    for channel in (gray, lift_invariant(image)):
        differences = _second_differences(channel)
        stats += [np.log(np.mean(d[m] ** 2) + 1e-8) for pair in halves for m in pair for d in differences]
    layout = eye_frame(torch.from_numpy(np.asarray(lm, np.float32))[None])[0].numpy()
    return np.concatenate([np.asarray(stats, np.float32), layout]).astype(np.float32)


class TextureHead(ReadingHead):
    """Smoothing and the warps (presence, degree) from texture statistics and the landmark layout."""

    size = FEATURES

    def measure(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return per_face(images, landmarks, texture_features, FEATURES)
