"""Shared fixtures: real face photos (../shared when present, else the bundled examples)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED_FACES = ROOT.parent / "shared" / "data" / "faces"


def real_photos(n: int) -> list[Path]:
    """Up to n real single-face photos: the shared validation set if present, else examples/."""
    shared = sorted((SHARED_FACES / "val" / "canada").glob("*.jpg"))
    return (shared[::7] if shared else sorted(EXAMPLES.glob("*.jpg")))[:n]


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    return real_photos(3)


@pytest.fixture(scope="session")
def aligned(photos):
    """(crop 256, landmarks in crop pixels) for each real photo."""
    from mofrr_core.face_pipeline import align_faces
    from mofrr_core.imageio import load_photo

    out = []
    for path in photos:
        face = align_faces(load_photo(path).rgb, size=256)[0]
        out.append((face.crop, face.landmarks))
    return out


def with_retouched(aligned, ops: dict):
    """The aligned crops, then each one retouched by `ops` (seed 0): (2B, 3, 256, 256) float in [0, 1]."""
    from mofrr_core.retouch import retouch

    faces = [crop for crop, _ in aligned] + [retouch(crop, lm, ops, seed=0)[0] for crop, lm in aligned]
    return torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float().clamp(0, 1)


def held_out_pairs(kind: str, n: int = 6) -> dict[str, torch.Tensor]:
    """A batch of the example faces retouched as `kind` (seed 1: other draws than the fits' seed 0)."""
    from mofrr_core.data import RetouchPairs

    pairs = RetouchPairs(EXAMPLES, size=256, kind=kind, seed=1, progress=False)
    items = [pairs[(0, i)] for i in range(min(n, len(pairs)))]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def lite_pipeline_with(key: str, model):
    """A lite MoFRR pipeline (untrained) whose component `key` has `model`'s weights."""
    from mofrr_core.pipelines import MoFRRPipeline

    pipe = MoFRRPipeline.from_config_name("lite")
    getattr(pipe, key).load_state_dict(model.state_dict())
    return pipe


def reading_router(**types):
    """A tiny router with landmark / colour / texture heads for `types` (shape_types=..., colour_types=...,
    texture_types=...), their weights drawn large enough to move the logits."""
    from mofrr_core.configs import build_model

    torch.manual_seed(0)
    router = build_model("router", "tiny", **types).eval()
    with torch.no_grad():
        for head in (router.landmark_head, router.colour_head, router.texture_head):
            if head is not None:
                torch.nn.init.normal_(head.linear.weight, std=0.5)
    return router


def route_three_ways(router, crops):
    """The router's output on `crops` without landmarks, with dlib's, and with the first face's missing."""
    from mofrr_core.faces import crop_landmarks

    landmarks = crop_landmarks(crops)
    with torch.no_grad():
        plain, routed = router(crops), router(crops, landmarks=landmarks)
        landmarks[0] = float("nan")
        return plain, routed, router(crops, landmarks=landmarks)


@pytest.fixture
def crop(aligned):
    """The first real aligned face crop (256 x 256 x 3)."""
    return aligned[0][0]


@pytest.fixture(scope="session")
def two_face_photo(tmp_path_factory) -> Path:
    """A real photo holding two faces: two examples side by side."""
    from PIL import Image

    a, b = (Image.open(p).convert("RGB") for p in sorted(EXAMPLES.glob("*.jpg"))[:2])
    canvas = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width, 0))
    path = tmp_path_factory.mktemp("two") / "two_faces.jpg"
    canvas.save(path, quality=95)
    return path


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


# the reliability figures (README "Reliability and security"): tests record them, the run prints them

RELIABILITY: dict[str, str] = {}


@pytest.fixture(scope="session")
def reliability() -> dict[str, str]:
    """Row name -> measured figure; printed in the terminal summary of every run that recorded some."""
    return RELIABILITY


def pytest_terminal_summary(terminalreporter):
    if RELIABILITY:
        terminalreporter.section("reliability and security figures")
        for row, figure in RELIABILITY.items():
            terminalreporter.write_line(f"{row}: {figure}")
