"""Soft skin mask: the face polygon with forehead, minus eyes, brows and mouth, restricted to skin colour."""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import FaceFrame

FEATURES = {"right_eye": range(36, 42), "left_eye": range(42, 48), "right_brow": range(17, 22), "left_brow": range(22, 27), "mouth": range(48, 60)}


def _poly(mask: np.ndarray, points: np.ndarray, value: float) -> None:
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], value, lineType=cv2.LINE_AA, shift=4)


def face_polygon(lm: np.ndarray, forehead: float = 0.55) -> np.ndarray:
    """Jaw line closed over a forehead made by lifting the brows by `forehead` face lengths."""
    frame = FaceFrame.from_landmarks(lm)
    lifted = lm[17:27][::-1] - frame.down * frame.length * forehead
    return np.concatenate([lm[0:17], lifted])


def feature_mask(lm: np.ndarray, shape: tuple[int, int], grow: float = 0.1) -> np.ndarray:
    """1 on eyes, brows and mouth (each hull grown by `grow` eye widths), else 0."""
    mask = np.zeros(shape, np.float32)
    eye = float(np.hypot(*(lm[39] - lm[36])))
    for idx in FEATURES.values():
        _poly(mask, cv2.convexHull(lm[list(idx)].astype(np.float32))[:, 0], 1.0)
    k = max(3, int(round(eye * grow)) * 2 + 1)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


def _colour_weight(rgb: np.ndarray, core: np.ndarray) -> np.ndarray:
    """How skin-like each pixel's chroma and brightness are, from statistics inside `core`."""
    ycc = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    sample = ycc[core > 0.5]
    if len(sample) < 50:
        return np.ones(rgb.shape[:2], np.float32)
    med = np.median(sample, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(sample - med), axis=0), [0.04, 0.012, 0.012])
    z = (ycc - med) / spread
    chroma = np.sqrt(z[..., 1] ** 2 + z[..., 2] ** 2)
    weight = np.clip(1 - (chroma - 3.0) / 2.0, 0, 1) * np.clip(1 - (-z[..., 0] - 3.5) / 2.0, 0, 1)
    return weight.astype(np.float32)


def neck_polygon(lm: np.ndarray) -> np.ndarray:
    """The neck below the jaw, down to 1.5 face lengths under the chin."""
    frame = FaceFrame.from_landmarks(lm)
    jaw = lm[4:13]
    return np.concatenate([jaw, jaw[::-1] + frame.down * frame.length * 1.5])


def skin_mask(
    rgb: np.ndarray, lm: np.ndarray, forehead: float = 0.55, feather: float = 0.015, neck: bool = False, grow: float = 0.1
) -> np.ndarray:
    """Soft skin mask in [0, 1] for an image and its 68 landmarks (optionally with the neck); eyes,
    brows and mouth are left out with a margin of `grow` eye widths."""
    shape = rgb.shape[:2]
    region = np.zeros(shape, np.float32)
    _poly(region, face_polygon(lm, forehead), 1.0)
    if neck:
        _poly(region, neck_polygon(lm), 1.0)
    features = feature_mask(lm, shape, grow)
    lower = np.zeros(shape, np.float32)
    _poly(lower, lm[list(range(1, 16)) + [35, 42, 39, 31]], 1.0)
    core = lower * (1 - features)
    mask = region * (1 - features) * _colour_weight(rgb, core)
    sigma = max(0.8, feather * max(shape))
    return np.clip(cv2.GaussianBlur(mask, (0, 0), sigma), 0, 1)
