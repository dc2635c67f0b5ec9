"""Heat map of where and how much an image changed (e.g. retouched vs restored), for people to look at."""

from __future__ import annotations

import cv2
import numpy as np

from .imageio import to_uint8

# the smallest change the colour scale stretches to, so an unchanged image stays dark instead of showing rounding noise
MIN_SCALE = 1 / 255


def _as_float(image: np.ndarray, name: str) -> np.ndarray:
    """H x W x 3 float32 in [0, 1] from uint8, uint16 or float RGB."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: expected an H x W x 3 RGB image, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / np.iinfo(arr.dtype).max
    return np.clip(arr.astype(np.float32), 0, 1)


def change_heatmap(before: np.ndarray, after: np.ndarray, underlay: float = 0.0) -> tuple[np.ndarray, float]:
    """(heat map, scale): each pixel's mean absolute RGB change from `before` to `after`, coloured with the
    inferno map (black: unchanged, yellow: the largest change), and the change the top colour stands for.

    Inputs: H x W x 3 uint8, uint16 or float in [0, 1], of one size. The map is H x W x 3 float32 in
    [0, 1] (`to_uint8` it for 8 bits); `underlay` mixes in that much of a grayscale copy of `after`
    so the face stays recognisable. The scale is the largest change, at least MIN_SCALE.
    """
    a, b = _as_float(before, "before"), _as_float(after, "after")
    if a.shape != b.shape:
        raise ValueError(f"before and after differ in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    change = np.abs(b - a).mean(axis=2)
    scale = max(float(change.max()), MIN_SCALE)
    colours = cv2.applyColorMap(to_uint8(change / scale), cv2.COLORMAP_INFERNO)[..., ::-1].astype(np.float32) / 255
    heat = (1 - underlay) * colours + underlay * b.mean(axis=2, keepdims=True)
    return np.clip(heat, 0, 1).astype(np.float32), scale
