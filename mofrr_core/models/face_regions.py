"""Face regions from 68 landmarks, and the per-face statistics the router's reading heads take from them.

The colour and texture heads compare a statistic of a region a retouch changes with the same
statistic of regions it leaves alone, so the comparison holds across cameras and lighting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from ..retouch.geometry import FaceFrame


def _fill(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _hull(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    return _fill(shape, cv2.convexHull(points.astype(np.float32))[:, 0])


def _band(shape: tuple[int, int], points: np.ndarray, width: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.polylines(mask, [np.round(points).astype(np.int32)], False, 1, thickness=max(3, int(width)))
    return mask.astype(bool)


def _grow(mask: np.ndarray, side: float) -> np.ndarray:
    side = max(3, int(side))
    return cv2.dilate(mask.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool)


def face_regions(lm: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean masks, from 68 landmarks, of the lower-face skin and of the regions it is compared with.

    `slim`, `temple` and `centre` are in the face's own frame (`FaceFrame`: across in half-widths, along
    in nose-bridge-to-chin lengths): the sides of the lower face, the sides at eye height, and the
    lower face's middle strip."""
    eye = float(np.hypot(*(lm[39] - lm[36])))
    parts = [lm[36:42], lm[42:48], lm[17:22], lm[22:27], lm[48:60]]
    features = np.any([_hull(shape, p) for p in parts], axis=0)
    grown = _grow(features, 2 * round(0.15 * eye) + 1)
    down = lm[8] - lm[27]
    jaw = lm[4:13]
    face = _fill(shape, np.concatenate([lm[0:17], lm[17:27][::-1] - 0.5 * down]))
    contour = _fill(shape, lm[0:17])
    eyes = _fill(shape, lm[36:42]) | _fill(shape, lm[42:48])
    across, along = FaceFrame.from_landmarks(lm).coords(*shape)
    across = np.abs(across)
    lower = (along > 0.35) & (along < 1.0)
    top = np.zeros(shape, bool)
    top[: int(0.12 * shape[0])] = True
    jaw_band = _band(shape, lm[2:15], 0.5 * eye)
    return {
        "skin": _fill(shape, lm[list(range(1, 16)) + [35, 42, 39, 31]]) & ~grown,
        "lips": _fill(shape, lm[48:60]) & ~_fill(shape, lm[60:68]),
        "eyes": eyes,
        "brows": _hull(shape, lm[17:22]) | _hull(shape, lm[22:27]),
        "neck": _fill(shape, np.concatenate([jaw + 0.15 * down, (jaw + 0.5 * down)[::-1]])),
        "ring": grown & ~features & face,
        "forehead": face & ~contour & ~grown,
        "jaw": jaw_band & contour,
        "outside": _band(shape, lm[1:16], 1.2 * eye) & ~contour & ~jaw_band,
        "eye_surround": _grow(_hull(shape, lm[36:42]) | _hull(shape, lm[42:48]), 0.4 * eye) & ~eyes,
        "top": top,
        "nose": _hull(shape, lm[27:36]),
        "slim": lower & (across > 0.3) & (across < 1.4),
        "temple": (along > -0.6) & (along < 0.0) & (across > 0.7) & (across < 1.4),
        "centre": lower & (across < 0.15),
    }


def per_face(
    images: torch.Tensor | Sequence[torch.Tensor], landmarks: torch.Tensor, read: Callable[[np.ndarray, np.ndarray], np.ndarray], size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`read(image, landmarks)` of every face of a batch -> ((B, size) float32 features, (B,) found). `images`
    (B, 3, H, W) in [0, 1], or a list of (3, H, W) crops of any sizes; `landmarks` (B, 68, 2) in their pixels,
    NaN where no face was found: those rows get the batch's mean."""
    found = torch.isfinite(landmarks).flatten(1).all(dim=1).cpu()
    points = landmarks.detach().float().cpu().numpy()
    rows = [
        read(image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy(), p) if ok else np.zeros(size, np.float32)
        for image, p, ok in zip(images, points, found.tolist())
    ]
    return fill_missing(torch.from_numpy(np.stack(rows)), found), found


def fill_missing(features: torch.Tensor, found: torch.Tensor) -> torch.Tensor:
    """(B, size) features with the rows of faces not found replaced by the mean of those found."""
    return torch.where(found[:, None], features, features[found].mean(0)) if found.any() else features
