"""Skin smoothing: an edge-preserving filter that removes pores and blemishes on skin only."""

from __future__ import annotations

import cv2
import numpy as np

from .op import RetouchOp
from .skin import skin_mask


def guided_filter(image: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Self-guided filter (He et al.) per channel: flattens texture, keeps strong edges."""
    size = (2 * radius + 1, 2 * radius + 1)
    mean = cv2.boxFilter(image, -1, size)
    var = cv2.boxFilter(image * image, -1, size) - mean * mean
    a = var / (var + eps)
    b = mean - a * mean
    return cv2.boxFilter(a, -1, size) * image + cv2.boxFilter(b, -1, size)


def bilateral(image: np.ndarray, radius: int, sigma_color: float, max_radius: int = 4) -> np.ndarray:
    """Bilateral filter of a given radius, run on a copy shrunk until the radius is at most
    `max_radius` pixels: its cost grows with the radius squared, and its output is smooth anyway."""
    scale = min(1.0, max_radius / radius)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    r = max(1, round(radius * scale))
    smooth = cv2.bilateralFilter(small, 2 * r + 1, sigma_color, r)
    return cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1 else smooth


class Smoothing(RetouchOp):
    name = "smoothing"

    def sample_params(self, rng):
        return {
            "filter": str(rng.choice(["guided", "bilateral"])),
            "radius": float(rng.uniform(0.05, 0.09)),
            "eps": float(rng.uniform(0.015, 0.06)),
            "sigma_color": float(rng.uniform(0.5, 1.0)),
            "keep_grain": float(rng.uniform(0.0, 0.1)),
            "gamma": float(rng.uniform(0.5, 0.9)),
            "forehead": float(rng.uniform(0.45, 0.65)),
            "feather": float(rng.uniform(0.01, 0.025)),
        }

    def apply(self, rgb, lm, strength, params):
        img = rgb.astype(np.float32)
        radius = max(1, int(round(params["radius"] * max(img.shape[:2]))))
        if params["filter"] == "guided":
            smooth = guided_filter(img, radius, params["eps"])
        else:
            smooth = bilateral(img, radius, params["sigma_color"])
        grain = img - cv2.GaussianBlur(img, (0, 0), 0.7)
        target = smooth + params["keep_grain"] * grain
        weight = (strength / 100.0) ** params["gamma"]
        # a wide filter drags dark features into the skin around them: keep a wider margin
        mask = skin_mask(rgb, lm, params["forehead"], params["feather"], grow=0.4)[..., None]
        return np.clip(rgb + weight * mask * (target - rgb), 0, 1), None
