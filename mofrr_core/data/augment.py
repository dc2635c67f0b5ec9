"""Capture augmentation: vary how a clean face photo was taken before it is retouched.

Detectors trained on one set of photos learn that set's sharpness, noise, compression and colour
as much as the retouch itself, and fail on photos from elsewhere. Drawing those from wide ranges
per training pair leaves the retouch (skin smoother, lighter or warped relative to the rest of the
same photo) as the only consistent cue.
"""

from __future__ import annotations

import cv2
import numpy as np


def _resample(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrink and enlarge back: the softness of a face taken from fewer pixels."""
    h, w = image.shape[:2]
    scale = rng.uniform(0.35, 0.9)
    small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _sharpen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unsharp mask, as cameras and phones apply."""
    blur = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.6))
    return image + rng.uniform(0.3, 1.5) * (image - blur)


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise, partly shared by the channels (luminance grain)."""
    sigma = rng.uniform(0.003, 0.025)
    grain = rng.normal(0.0, 1.0, image.shape[:2] + (1,)) * rng.uniform(0.3, 1.0)
    return image + sigma * (grain + rng.normal(0.0, 0.6, image.shape)).astype(np.float32)


def _colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, white balance and saturation of another camera or light."""
    out = np.clip(image, 0, 1) ** rng.uniform(0.75, 1.3) * rng.uniform(0.85, 1.15)
    out = out * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    grey = out.mean(axis=-1, keepdims=True)
    return grey + rng.uniform(0.75, 1.25) * (out - grey)


def _jpeg(image: np.ndarray, rng: np.random.Generator, qualities: tuple[int, int] = (45, 96)) -> np.ndarray:
    """JPEG compression at a random quality in [low, high)."""
    bgr = np.round(np.clip(image[..., ::-1], 0, 1) * 255).astype(np.uint8)
    _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(*qualities))])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


CAPTURE_STEPS = ((_resample, 0.4), (_sharpen, 0.35), (_colour, 0.6), (_noise, 0.35), (_jpeg, 0.35))


def capture_augment(image: np.ndarray, rng: np.random.Generator, chance: float = 1.0) -> np.ndarray:
    """A float RGB face in [0, 1] as another camera might have taken it; `chance` scales each step's odds."""
    out = image.astype(np.float32)
    for step, odds in CAPTURE_STEPS:
        if rng.random() < chance * odds:
            out = step(out, rng)
    return np.clip(out, 0, 1).astype(np.float32)


def deliver(image: np.ndarray, rng: np.random.Generator, chance: float) -> np.ndarray:
    """A retouched face as an app may deliver it: with odds `chance`, saved as JPEG at quality 60-95, which
    weakens the finest traces a retouch leaves (a warp's resampling) but not the retouch itself."""
    return _jpeg(image, rng, (60, 96)) if rng.random() < chance else image
