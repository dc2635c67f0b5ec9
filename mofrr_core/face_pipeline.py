"""Whole-photo face processing: find every face, align it, edit the crop, paste the edit back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .align import Alignment, align_face, ffhq_transform, paste_back
from .errors import NoFaceError
from .faces import Face, detect_faces
from .imageio import Photo

MIN_CROP, MAX_CROP = 256, 1024


@dataclass
class AlignedFace:
    """One face of a photo: its aligned crop, the transform, and the landmarks in crop pixels."""

    crop: np.ndarray
    alignment: Alignment
    landmarks: np.ndarray
    face: Face


def native_crop_size(landmarks: np.ndarray, photo_size: tuple[int, int]) -> int:
    """Crop side that keeps the face's own resolution (a multiple of 32 in [256, 1024])."""
    unit = ffhq_transform(landmarks, 1, photo_size).scale
    return int(np.clip(np.ceil(1 / unit / 32) * 32, MIN_CROP, MAX_CROP))


def align_faces(rgb: np.ndarray, size: int | None = None, max_faces: int | None = None, name: str = "image") -> list[AlignedFace]:
    """Detect and align every face (largest first); `size=None` picks each face's native size."""
    faces = detect_faces(rgb)[:max_faces]
    if not faces:
        raise NoFaceError(f"{name}: no face found; use a photo with a clear, roughly frontal face at least 24 pixels wide")
    photo_size = (rgb.shape[1], rgb.shape[0])
    out = []
    for face in faces:
        n = size or native_crop_size(face.landmarks, photo_size)
        crop, alignment = align_face(rgb, face.landmarks, n)
        out.append(AlignedFace(crop, alignment, alignment.to_crop(face.landmarks).astype(np.float32), face))
    return out


def edit_faces(
    photo: Photo,
    edit: Callable[[AlignedFace, int], np.ndarray],
    size: int | None = None,
    feather: float = 0.06,
    name: str = "image",
) -> tuple[Photo, list[AlignedFace]]:
    """Apply `edit(face, index) -> new crop` to every face and carry each edit back into the photo."""
    faces = align_faces(photo.rgb, size, name=name)
    rgb = photo.rgb
    for index, face in enumerate(faces):
        rgb = paste_back(rgb, edit(face, index), face.alignment, feather, reference=face.crop)
    return Photo(rgb=rgb, alpha=photo.alpha, bit_depth=photo.bit_depth), faces
