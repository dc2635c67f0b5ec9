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


class Smoothing(RetouchOp):
    name = "smoothing"

    def sample_params(self, rng):
        return {
            "filter": str(rng.choice(["guided", "bilateral"])),
            "radius": float(rng.uniform(0.012, 0.028)),
            "eps": float(rng.uniform(0.0006, 0.004)),
            "sigma_color": float(rng.uniform(0.06, 0.14)),
            "keep_grain": float(rng.uniform(0.0, 0.2)),
            "gamma": float(rng.uniform(0.7, 1.2)),
            "forehead": float(rng.uniform(0.45, 0.65)),
            "feather": float(rng.uniform(0.01, 0.025)),
        }

    def apply(self, rgb, lm, strength, params):
        img = rgb.astype(np.float32)
        radius = max(1, int(round(params["radius"] * max(img.shape[:2]))))
        if params["filter"] == "guided":
            smooth = guided_filter(img, radius, params["eps"])
        else:
            smooth = cv2.bilateralFilter(img, 2 * radius + 1, params["sigma_color"], radius)
        grain = img - cv2.GaussianBlur(img, (0, 0), 0.7)
        target = smooth + params["keep_grain"] * grain
        weight = (strength / 100.0) ** params["gamma"]
        mask = skin_mask(rgb, lm, params["forehead"], params["feather"])[..., None]
        return np.clip(rgb + weight * mask * (target - rgb), 0, 1), None
