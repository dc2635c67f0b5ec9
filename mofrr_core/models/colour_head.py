"""The router's colour head: whitening read from how the skin's colour stands against the rest of the face.

Whitening lifts and de-yellows the skin but leaves the lips, eyes, brows and often the neck as they
were. Lighting and white balance move all of them together, so the skin's Lab colour measured
against those regions separates whitened faces from pale ones on photos from other sources, where
the image heads, trained on a few hundred photos, did not (see the README's Evaluation section).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

STATS = 5
REGIONS = ("lips", "eyes", "brows", "neck", "ring", "forehead")
FEATURES = STATS + STATS * len(REGIONS) + 3


def _fill(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _hull(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    return _fill(shape, cv2.convexHull(points.astype(np.float32))[:, 0])


def face_regions(lm: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean masks of the lower-face skin and of the regions it is compared with, from 68 landmarks."""
    eye = float(np.hypot(*(lm[39] - lm[36])))
    parts = [lm[36:42], lm[42:48], lm[17:22], lm[22:27], lm[48:60]]
    features = np.any([_hull(shape, p) for p in parts], axis=0)
    grow = max(3, 2 * int(round(0.15 * eye)) + 1)
    grown = cv2.dilate(features.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
    down = lm[8] - lm[27]
    jaw = lm[4:13]
    face = _fill(shape, np.concatenate([lm[0:17], lm[17:27][::-1] - 0.5 * down]))
    return {
        "skin": _fill(shape, lm[list(range(1, 16)) + [35, 42, 39, 31]]) & ~grown,
        "lips": _fill(shape, lm[48:60]) & ~_fill(shape, lm[60:68]),
        "eyes": _fill(shape, lm[36:42]) | _fill(shape, lm[42:48]),
        "brows": _hull(shape, lm[17:22]) | _hull(shape, lm[22:27]),
        "neck": _fill(shape, np.concatenate([jaw + 0.15 * down, (jaw + 0.5 * down)[::-1]])),
        "ring": grown & ~features & face,
        "forehead": face & ~_fill(shape, lm[0:17]) & ~grown,
    }


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


class ColourHead(nn.Module):
    """Presence logits of `outputs` retouch types from skin colour statistics; rows without landmarks are flagged."""

    def __init__(self, outputs: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(FEATURES, affine=False)
        self.linear = nn.Linear(FEATURES, outputs)

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`images` (B, 3, H, W) in [0, 1], `landmarks` (B, 68, 2), NaN where no face was found ->
        (logits (B, outputs), found (B,) bools)."""
        found = torch.isfinite(landmarks).flatten(1).all(dim=1)
        arrays = images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        points = landmarks.detach().float().cpu().numpy()
        rows = found.cpu()
        read = [colour_features(a, p) if ok else np.zeros(FEATURES, np.float32) for a, p, ok in zip(arrays, points, rows.tolist())]
        features = torch.from_numpy(np.stack(read))
        if rows.any():
            features = torch.where(rows[:, None], features, features[rows].mean(0))
        return self.linear(self.norm(features.to(self.linear.weight))), found
