"""FFHQ-style similarity alignment of faces to square crops, and seamless paste-back."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Alignment:
    """A similarity transform from photo pixels to an N x N crop (`matrix` is 2 x 3, photo -> crop)."""

    matrix: np.ndarray
    size: int
    photo_size: tuple[int, int]

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Map (K, 2) photo points into crop coordinates."""
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Map (K, 2) crop points back into photo coordinates."""
        inv = cv2.invertAffineTransform(self.matrix)
        return points @ inv[:, :2].T + inv[:, 2]

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel."""
        return float(np.hypot(*self.matrix[0, :2]))

    def to_dict(self) -> dict:
        return {"matrix": self.matrix.tolist(), "size": self.size, "photo_size": list(self.photo_size)}

    @classmethod
    def from_dict(cls, data: dict) -> "Alignment":
        return cls(np.asarray(data["matrix"], dtype=np.float64), int(data["size"]), tuple(data["photo_size"]))


def ffhq_transform(landmarks: np.ndarray, size: int, photo_size: tuple[int, int]) -> Alignment:
    """The FFHQ crop (eyes and mouth placed as in FFHQ) of a face with 68 landmarks."""
    lm = landmarks.astype(np.float64)
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, eye_to_eye = (eye_left + eye_right) / 2, eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    half = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    centre = eye_avg + eye_to_mouth * 0.1
    scale = size / (2 * half)
    cos, sin = x
    rot = np.array([[cos, sin], [-sin, cos]]) * scale
    matrix = np.hstack([rot, (size / 2 - rot @ centre)[:, None]])
    return Alignment(matrix=matrix, size=size, photo_size=photo_size)


def warp_to_crop(rgb: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Resample the aligned crop; strong downscales go through an area-averaged copy to avoid aliasing."""
    matrix = alignment.matrix.copy()
    shrink = int(np.floor(1 / (2 * alignment.scale))) if alignment.scale < 0.5 else 1
    if shrink > 1:
        rgb = cv2.resize(rgb, (rgb.shape[1] // shrink, rgb.shape[0] // shrink), interpolation=cv2.INTER_AREA)
        matrix[:, :2] *= shrink
    n = alignment.size
    return cv2.warpAffine(rgb, matrix, (n, n), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def align_face(rgb: np.ndarray, landmarks: np.ndarray, size: int = 512) -> tuple[np.ndarray, Alignment]:
    """Aligned N x N crop of one face and the transform that made it."""
    alignment = ffhq_transform(landmarks, size, (rgb.shape[1], rgb.shape[0]))
    return np.clip(warp_to_crop(rgb, alignment), 0, 1), alignment


def feather_mask(size: int, feather: float) -> np.ndarray:
    """Crop-space blend weight: 1 inside, a smooth ramp of `feather` (fraction of the side) to 0 at the edge."""
    band = max(1.0, feather * size)
    coords = np.arange(size, dtype=np.float32)
    edge = np.minimum(coords, size - 1 - coords)
    ramp = np.clip(edge / band, 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return np.minimum.outer(ramp, ramp)


def photo_roi(alignment: Alignment) -> tuple[int, int, int, int]:
    """Bounding box in the photo of the crop square, clipped to the photo."""
    n = alignment.size
    corners = alignment.to_photo(np.array([[0, 0], [n, 0], [0, n], [n, n]], dtype=np.float64))
    w, h = alignment.photo_size
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [w, h])
    return int(x0), int(y0), int(x1), int(y1)


def crop_to_photo(plane: np.ndarray, alignment: Alignment, roi: tuple[int, int, int, int], interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Warp a crop-space array back to the photo region `roi` through the inverse transform."""
    x0, y0, x1, y1 = roi
    matrix = alignment.matrix.copy()
    matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], dtype=np.float64)
    return cv2.warpAffine(
        plane, matrix, (x1 - x0, y1 - y0), flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def photo_mask(alignment: Alignment, feather: float, roi: tuple[int, int, int, int]) -> np.ndarray:
    """The feathered blend weight of a crop, in the photo region `roi`."""
    return np.clip(crop_to_photo(feather_mask(alignment.size, feather), alignment, roi, cv2.INTER_LINEAR), 0, 1)


def paste_back(
    rgb: np.ndarray, crop: np.ndarray, alignment: Alignment, feather: float = 0.06, reference: np.ndarray | None = None
) -> np.ndarray:
    """Blend an edited crop back into the photo with a feathered edge.

    With `reference` (the unedited aligned crop) only the edit (crop - reference) is carried
    back, so pixels the edit did not touch keep the photo's full-resolution detail exactly.
    """
    roi = photo_roi(alignment)
    x0, y0, x1, y1 = roi
    out = rgb.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    mask = photo_mask(alignment, feather, roi)[..., None]
    region = out[y0:y1, x0:x1]
    if reference is None:
        back = crop_to_photo(crop.astype(np.float32), alignment, roi)
        region[:] = region * (1 - mask) + back * mask
    else:
        delta = crop_to_photo((crop - reference).astype(np.float32), alignment, roi)
        region[:] = region + delta * mask
    return np.clip(out, 0, 1)
