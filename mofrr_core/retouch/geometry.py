"""Face geometry from 68 landmarks: axes, sizes and smooth weight profiles used by the retouch ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def smoothstep(x: np.ndarray) -> np.ndarray:
    """C1 ramp from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class FaceFrame:
    """A face-centred frame: origin at the nose bridge, `down` toward the chin, `side` across the face."""

    origin: np.ndarray
    down: np.ndarray
    side: np.ndarray
    half_width: float
    length: float

    @classmethod
    def from_landmarks(cls, lm: np.ndarray) -> "FaceFrame":
        lm = lm.astype(np.float64)
        down = lm[8] - lm[27]
        length = float(np.hypot(*down))
        down /= length
        return cls(origin=lm[27], down=down, side=np.array([-down[1], down[0]]), half_width=float(np.hypot(*(lm[15] - lm[1])) / 2), length=length)

    def coords(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel (h, v): h across the face in half-widths, v along it in nose-bridge-to-chin lengths."""
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        dx, dy = xs - self.origin[0], ys - self.origin[1]
        h = (dx * self.side[0] + dy * self.side[1]) / self.half_width
        v = (dx * self.down[0] + dy * self.down[1]) / self.length
        return h.astype(np.float32), v.astype(np.float32)


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right (image left) and left eye."""
    return lm[36:42].mean(0), lm[42:48].mean(0)


def eye_width(lm: np.ndarray, right: bool) -> float:
    a, b = (36, 39) if right else (42, 45)
    return float(np.hypot(*(lm[b] - lm[a])))
