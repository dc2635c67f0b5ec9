"""Properties that must hold for every input, checked on inputs hypothesis draws: the wavelet round trip, the retouch
simulator's strengths and warps, paste-back under any alignment, and the same output for a seed in every run and
every process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mofrr_core.align import Alignment, paste_back, photo_roi
from mofrr_core.imageio import load_photo
from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline
from mofrr_core.retouch import OPS, apply_flow, invert, jacobian_determinant, retouch
from mofrr_core.retouch.geometry import FaceFrame, eye_centres
from mofrr_core.wavelets import HaarPyramid

from conftest import ROOT
from test_pipelines import randomise_

FIXTURES = [HealthCheck.function_scoped_fixture]
WARPS = ["face_slimming", "eye_enlargement"]
# the largest displacement of each warp at strength 100, from its parameter ranges: face slimming moves pixels by at
# most 0.12 * 1.9 * 1.2 ** 1.2 = 0.284 face half-widths, eye enlargement by 0.26 * 0.286 * 0.45 = 0.034 eye spacings
# eye enlargement: amount (at most 0.45) x the largest (1 - r^2)^2 r (0.286, at r^2 = 1/5) x radius (at most half
# the eye spacing) = 0.0644 of the eye spacing
MAX_SHIFT = {"face_slimming": 0.29, "eye_enlargement": 0.065}
LAB_ROUND_TRIP = 5e-4  # mean change of OpenCV's float RGB -> Lab -> RGB on skin (measured about 2e-4, 0.05/255)


def face_scale(op: str, landmarks: np.ndarray) -> float:
    """The face measure MAX_SHIFT is relative to, in pixels."""
    if op == "face_slimming":
        return FaceFrame.from_landmarks(landmarks).half_width
    right, left = eye_centres(landmarks)
    return float(np.hypot(*(left - right)))


# the wavelet pyramid


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 12), st.integers(1, 12)),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**32 - 1),
)
def test_dwt_round_trip_and_energy(shape, dtype, scale, seed):
    """Split then merge gives the input back, and the orthonormal Haar bands keep its energy, for any size (multiple of
    4), dtype and value range (up to float32 rounding in float64 too: pytorch_wavelets rounds the taps to float32)."""
    batch, channels, h, w = shape
    x = torch.randn(batch, channels, 4 * h, 4 * w, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale
    bands = HaarPyramid().to(dtype).split(x)
    torch.testing.assert_close(HaarPyramid().to(dtype).merge(*bands), x, atol=1e-5 * scale, rtol=1e-5)
    energy = sum(float((b.double() ** 2).sum()) for b in bands)
    assert energy == pytest.approx(float((x.double() ** 2).sum()), rel=1e-5)


# the retouch simulator


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES)
@given(op=st.sampled_from(WARPS), strength=st.floats(0.5, 100), seed=st.integers(0, 2**32 - 1), face=st.integers(0, 2))
def test_warps_scale_with_strength_stay_bounded_and_invert(aligned, op, strength, seed, face):
    """A warp's displacement is its strength-100 displacement scaled by strength / 100, never more than MAX_SHIFT of
    the face's size, never folds (positive Jacobian) and is undone by its inverse."""
    crop, landmarks = aligned[face]
    params = OPS[op].sample_params(np.random.default_rng(seed))
    _, full = retouch(crop, landmarks, {op: 100}, params={op: params})
    image, record = retouch(crop, landmarks, {op: strength}, params={op: params})
    np.testing.assert_allclose(record.flow, full.flow * (strength / 100), atol=1e-4, rtol=1e-4)
    shift = float(np.sqrt((record.flow**2).sum(-1)).max())
    assert shift <= MAX_SHIFT[op] * face_scale(op, landmarks) * strength / 100 + 1e-3
    assert jacobian_determinant(record.flow).min() > 0
    back = apply_flow(image, invert(record.flow))
    inner = (slice(32, -32), slice(32, -32))
    assert np.abs(back[inner] - crop[inner]).mean() < 2 / 255


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES)
@given(op=st.sampled_from(["whitening", "smoothing"]), strengths=st.tuples(st.floats(0, 100), st.floats(0, 100)),
       seed=st.integers(0, 2**32 - 1))
def test_colour_ops_grow_with_strength_and_stay_in_range(aligned, op, strengths, seed):
    """For one set of hidden parameters, a stronger slider changes the face at least as much (up to LAB_ROUND_TRIP, the
    mean error of whitening's float Lab round trip); outputs stay finite in [0, 1]; strength 0 is the identity."""
    crop, landmarks = aligned[0]
    params = OPS[op].sample_params(np.random.default_rng(seed))
    low, high = sorted(strengths)
    changes = []
    for strength in (low, high):
        image, _ = retouch(crop, landmarks, {op: strength}, params={op: params})
        assert image.shape == crop.shape and np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
        changes.append(float(np.abs(image - crop).mean()))
    assert changes[0] <= changes[1] + LAB_ROUND_TRIP
    assert np.array_equal(retouch(crop, landmarks, {op: 0}, params={op: params})[0], crop)


# paste-back


@st.composite
def alignments(draw):
    """A photo size and any similarity transform to an n x n crop: scaled, rotated, partly or wholly outside."""
    w, h, n = draw(st.integers(8, 160)), draw(st.integers(8, 160)), draw(st.integers(8, 96))
    scale, angle = draw(st.floats(0.1, 6)), draw(st.floats(0, 2 * np.pi))
    centre = np.array([draw(st.floats(-0.5 * w, 1.5 * w)), draw(st.floats(-0.5 * h, 1.5 * h))])
    rot = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return Alignment(np.hstack([rot, (n / 2 - rot @ centre)[:, None]]), n, (w, h)), centre


@settings(max_examples=150, deadline=None)
@given(alignment=alignments(), feather=st.floats(0, 0.5), edit=st.floats(-0.3, 0.3), seed=st.integers(0, 2**32 - 1))
def test_paste_back_changes_only_the_crop_region(alignment, feather, edit, seed):
    """Pasting back an unedited crop is bit-exact; an edit changes nothing outside the crop's region, stays in [0, 1],
    and arrives in full at the crop's centre."""
    alignment, centre = alignment
    rng = np.random.default_rng(seed)
    w, h = alignment.photo_size
    rgb = rng.random((h, w, 3), dtype=np.float32)
    reference = rng.random((alignment.size, alignment.size, 3), dtype=np.float32)
    assert np.array_equal(paste_back(rgb, reference, alignment, feather, reference=reference), rgb)
    out = paste_back(rgb, reference + edit, alignment, feather, reference=reference)
    assert out.shape == rgb.shape and out.dtype == rgb.dtype and out.min() >= 0 and out.max() <= 1
    x0, y0, x1, y1 = photo_roi(alignment)
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], rgb[outside])
    px, py = np.round(centre).astype(int)
    plateau = alignment.size / 2 - max(1.0, feather * alignment.size) - 3  # crop pixels around the centre with weight 1
    if 0 <= px < w and 0 <= py < h and plateau > 2 * alignment.scale:
        expected = np.clip(rgb[py, px] + edit, 0, 1)
        np.testing.assert_allclose(out[py, px], expected, atol=1e-4)


# determinism for a seed, in one process and across processes

DIGEST_SCRIPT = r"""
import json, sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[2])
from test_properties import digests
print(json.dumps(digests(sys.argv[1], sys.argv[3])))
"""


def digest(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def digests(weights: str, photo: str) -> dict[str, str]:
    """Hashes of what fixed seeds give: each pipeline on a whole photo, at two seeds, and a random retouch."""
    from mofrr_core.face_pipeline import align_faces
    from mofrr_core.retouch import random_retouch

    rgb = load_photo(photo).rgb
    out = {}
    for method, cls in (("mofrr", MoFRRPipeline), ("frrffusion", FRRffusionPipeline)):
        pipe = cls.from_pretrained(os.path.join(weights, method))
        for seed in (0, 2**40 + 7):
            result = pipe(rgb, steps=2, seed=seed, size=128, **({"threshold": 0.0} if method == "mofrr" else {}))
            out[f"{method} seed {seed}"] = digest(result.image.rgb)
    face = align_faces(rgb, 256)[0]
    image, record = random_retouch(face.crop, face.landmarks, np.random.default_rng(7))
    out["retouch seed 7"] = digest(image) + digest(record.flow if record.flow is not None else 0)
    return out


@pytest.fixture(scope="module")
def randomised_weights(tmp_path_factory):
    """Tiny pipelines with every layer random (so outputs depend on the noise), saved as safetensors."""
    root = tmp_path_factory.mktemp("weights")
    randomise_(MoFRRPipeline.from_config_name("tiny")).save_pretrained(root / "mofrr")
    randomise_(FRRffusionPipeline.from_config_name("tiny")).save_pretrained(root / "frrffusion")
    return root


@settings(max_examples=8, deadline=None, suppress_health_check=FIXTURES)
@given(seed=st.integers(0, 2**63 - 1), method=st.sampled_from(["mofrr", "frrffusion"]))
def test_a_seed_gives_the_same_restoration_every_run(randomised_weights, aligned, seed, method):
    cls = MoFRRPipeline if method == "mofrr" else FRRffusionPipeline
    pipe = cls.from_pretrained(randomised_weights / method)
    crop = aligned[1][0]
    first, second = (pipe(crop, aligned=True, steps=2, seed=seed).image.rgb for _ in range(2))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, pipe(crop, aligned=True, steps=2, seed=seed ^ 1).image.rgb)


def test_a_seed_gives_the_same_results_in_another_process(randomised_weights, photos):
    """A fresh interpreter (other hash seed) computes bit-identical restorations and retouches for the same seeds."""
    here = digests(str(randomised_weights), str(photos[0]))
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", DIGEST_SCRIPT, str(randomised_weights), str(ROOT / "tests"), str(photos[0])],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == here
    assert len(set(here.values())) == len(here)  # the seeds matter
