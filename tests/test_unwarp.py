"""Unwarp: flow templates on the face landmarks that put warped pixels back, fitted to real faces."""

import copy

import numpy as np
import pytest
import torch

from conftest import EXAMPLES, held_out_pairs, lite_pipeline_with
from mofrr_core.configs import build_model
from mofrr_core.data import RetouchPairs
from mofrr_core.metrics import psnr
from mofrr_core.pipelines.mofrr import Routing
from mofrr_core.training.unwarp_fit import fit_unwarp
from mofrr_core.types import RETOUCH_TYPES

WARPS = ("face_slimming", "eye_enlargement")


@pytest.fixture(scope="module")
def fitted():
    """A lite unwarp fitted to 48 real example faces, each warped by one random type at a random degree."""
    model = build_model("unwarp", "lite")
    pairs = RetouchPairs(EXAMPLES, size=256, kind="single", seed=0, progress=False)
    used = fit_unwarp(model, pairs, 96, progress=False)
    assert used >= 30  # of 96 single-type pairs about half are warps
    return model.train(False)


def test_zero_templates_are_the_identity(aligned):
    model = build_model("unwarp", "lite").train(False)
    crops = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c, _ in aligned])
    landmarks = torch.stack([torch.from_numpy(lm).float() for _, lm in aligned])
    out = model(crops, landmarks, torch.ones(len(crops), 2))
    assert torch.allclose(out, crops, atol=1e-5)


@pytest.mark.parametrize("warp", WARPS)
def test_fitted_templates_undo_the_warps_of_other_faces(fitted, warp):
    batch = held_out_pairs(warp)
    columns = [RETOUCH_TYPES.index(t) for t in WARPS]
    degrees = batch["degree"][:, columns]
    with torch.no_grad():
        restored = fitted(batch["retouched"], batch["retouched_landmarks"], degrees)
        half = fitted(batch["retouched"], batch["retouched_landmarks"], degrees / 2)
    before = psnr(batch["retouched"], batch["original"]).mean()
    after, partway = psnr(restored, batch["original"]).mean(), psnr(half, batch["original"]).mean()
    assert after > before + 3.0, (float(before), float(after))
    assert before < partway < after  # the degree scales the correction
    if warp == "eye_enlargement":  # the jaw is untouched by the eye frames, and the reverse
        jaw = batch["retouched_landmarks"][:, 5:12].mean(1).round().long()
        for i, (x, y) in enumerate(jaw.tolist()):
            assert torch.allclose(restored[i, :, y, x], batch["retouched"][i, :, y, x], atol=1e-5)


def test_faces_without_landmarks_or_degrees_are_left_alone(fitted):
    batch = held_out_pairs("mixed", 3)
    landmarks = batch["retouched_landmarks"].clone()
    landmarks[0] = float("nan")
    degrees = torch.tensor([[0.8, 0.8], [0.0, 0.0], [0.8, 0.0]])
    with torch.no_grad():
        out = fitted(batch["retouched"], landmarks, degrees)
    assert torch.allclose(out[:2], batch["retouched"][:2], atol=1e-5)
    assert not torch.allclose(out[2], batch["retouched"][2], atol=1e-3)


def test_pipeline_unwarps_the_routed_warps_only(fitted):
    pipe = lite_pipeline_with("unwarp", fitted)
    batch = held_out_pairs("eye_enlargement", 2)
    x = batch["retouched"]
    routed = pipe.route(x, experts=["eye_enlargement"])
    assert torch.isfinite(routed.landmarks).all()  # dlib found both faces; the pipeline keeps their landmarks
    truth = batch["degree"]
    only_first = Routing(routed.probabilities, truth, routed.mask & torch.tensor([[True], [False]]), routed.weights, routed.options, routed.landmarks)
    out = pipe.run_inverse("unwarp", x, only_first)
    assert torch.allclose(out[1], x[1], atol=1e-5)
    assert psnr(out[:1], batch["original"][:1]) > psnr(x[:1], batch["original"][:1]) + 2.0
    none = Routing(routed.probabilities, truth, torch.zeros_like(routed.mask), routed.weights, routed.options, routed.landmarks)
    assert pipe.run_inverse("unwarp", x, none) is x
    assert np.isclose(float(routed.amounts()[0, 3]), float(routed.degrees[0, 3]))


def test_warps_left_out_of_routed_types_are_undone_only_when_named(fitted):
    """`routed_types` keeps a warp the router reads unreliably from being undone on its word alone."""
    restricted = build_model("unwarp", "lite", routed_types=("eye_enlargement",))
    restricted.load_state_dict(fitted.state_dict())
    batch = held_out_pairs("face_slimming", 1)
    x = batch["retouched"]
    slimming = torch.tensor([[False, False, True, False]])
    pipe = lite_pipeline_with("unwarp", fitted)
    for model, experts, changed in ((fitted, None, True), (restricted.train(False), None, False), (restricted, ["face_slimming"], True)):
        pipe.unwarp = model
        routed = pipe.route(x, experts=experts)
        forced = Routing(routed.probabilities, batch["degree"], slimming, torch.ones(1, 4), routed.options, routed.landmarks)
        out = pipe.run_inverse("unwarp", x, forced)
        assert (out is not x) == changed
    assert psnr(out, batch["original"]) > psnr(x, batch["original"]) + 2.0
    with pytest.raises(ValueError, match="not among"):
        build_model("unwarp", "lite", warp_types=("face_slimming",), routed_types=("eye_enlargement",))


def test_the_report_says_what_unsmooth_and_unwarp_undid(fitted):
    pipe = lite_pipeline_with("unwarp", fitted)
    batch = held_out_pairs("eye_enlargement", 2)
    crops = [c.permute(1, 2, 0).numpy() for c in batch["retouched"]]
    named, routed = pipe(crops, steps=1, aligned=True, experts=["eye_enlargement", "smoothing"]), pipe(crops, steps=1, aligned=True)
    for result in named:
        assert result.faces[0].undone == ["smoothing", "eye_enlargement"]  # unsmooth runs first
        assert result.to_dict()["undone"] == result.to_dict()["faces"][0]["undone"] == ["smoothing", "eye_enlargement"]
    for result in routed:  # an untrained router's choice
        face = result.faces[0]
        assert face.undone == [t for t in ("smoothing", "face_slimming", "eye_enlargement") if t in face.active]


def test_half_precision_keeps_the_geometry(fitted):
    batch = held_out_pairs("eye_enlargement", 2)
    degrees = batch["degree"][:, [2, 3]]
    with torch.no_grad():
        full = fitted(batch["retouched"], batch["retouched_landmarks"], degrees)
        half = copy.deepcopy(fitted).to(torch.bfloat16)(batch["retouched"].bfloat16(), batch["retouched_landmarks"], degrees)
    assert half.dtype == torch.bfloat16
    assert (half.float() - full).abs().max() < 0.02  # bf16 pixel values, float32 positions
