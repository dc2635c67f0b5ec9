"""Face detection and 68-point landmarks with dlib, models loaded offline from face-recognition-models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np
import torch

from .imageio import to_uint8

DETECT_MAX_SIDE = 1024
MIN_FACE_SIDE = 24


@dataclass
class Face:
    """A detected face: box (x0, y0, x1, y1) and 68 landmarks (x, y) in photo pixels."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    detector: str

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


def _model_path(name: str) -> str:
    """Path of a dlib model file shipped by face-recognition-models (found without importing it)."""
    spec = find_spec("face_recognition_models")
    return str(Path(next(iter(spec.submodule_search_locations))) / "models" / name)


@lru_cache(maxsize=1)
def _dlib_models():
    """Load the detectors and the landmark predictor once per process."""
    import dlib

    return {
        "hog": dlib.get_frontal_face_detector(),
        "cnn": dlib.cnn_face_detection_model_v1(_model_path("mmod_human_face_detector.dat")),
        "shape": dlib.shape_predictor(_model_path("shape_predictor_68_face_landmarks.dat")),
        "rect": dlib.rectangle,
    }


def _detect_boxes(gray: np.ndarray, rgb: np.ndarray, use_cnn: bool) -> tuple[list, str]:
    models = _dlib_models()
    upsample = 1 if max(gray.shape) < 640 else 0
    rects, scores, _ = models["hog"].run(gray, upsample, -0.2)
    found = [(r, s) for r, s in zip(rects, scores)]
    if found or not use_cnn:
        return found, "hog"
    return [(d.rect, d.confidence) for d in models["cnn"](rgb, upsample)], "cnn"


def _overlap(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def detect_faces(rgb: np.ndarray, use_cnn: bool = True, min_face: int = MIN_FACE_SIDE) -> list[Face]:
    """Find every face (HOG; the CNN detector when HOG finds none), largest first.

    Detection runs on a copy downscaled to at most DETECT_MAX_SIDE for speed; the
    landmarks are then fitted on the full-resolution photo.
    """
    img8 = to_uint8(rgb)
    scale = min(1.0, DETECT_MAX_SIDE / max(img8.shape[:2]))
    small = img8 if scale == 1.0 else cv2.resize(img8, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found, detector = _detect_boxes(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), small, use_cnn)
    models = _dlib_models()
    faces: list[Face] = []
    for rect, score in sorted(found, key=lambda f: -f[0].width() * f[0].height()):
        box = tuple(v / scale for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
        if box[2] - box[0] < min_face or any(_overlap(box, f.box) > 0.5 for f in faces):
            continue
        full = models["rect"](*(int(round(v)) for v in box))
        shape = models["shape"](img8, full)
        landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        faces.append(Face(box=box, landmarks=landmarks, score=float(score), detector=detector))
    return faces


def crop_landmarks(images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """68 landmarks of the largest face in each (3, H, W) crop in [0, 1] (a batch, or a list of crops of any
    sizes) -> (B, 68, 2) float32 in each crop's pixels, on the crops' device; NaN where the fast (HOG)
    detector finds no face."""
    out = torch.full((len(images), 68, 2), float("nan"))
    for i, image in enumerate(images):
        found = detect_faces(image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy(), use_cnn=False)
        if found:
            out[i] = torch.from_numpy(found[0].landmarks)
    if isinstance(images, torch.Tensor):
        return out.to(images.device)
    return out.to(images[0].device) if images else out


@lru_cache(maxsize=1)
def _recognition_model():
    import dlib

    return dlib.face_recognition_model_v1(_model_path("dlib_face_recognition_resnet_model_v1.dat"))


def face_descriptor(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's 128-D identity embedding of the face in `box` (landmarks refitted on this image).

    Distances below about 0.6 mean "same person" for dlib's model; evaluation passes the box
    found on the original so that every version of a face is measured in the same place.
    """
    img8 = to_uint8(rgb)
    models = _dlib_models()
    shape = models["shape"](img8, models["rect"](*(int(round(v)) for v in box)))
    return np.array(_recognition_model().compute_face_descriptor(img8, shape), dtype=np.float32)
