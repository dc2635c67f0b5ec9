"""Unsmooth: detail gain on the face, by degree, that scales back up the detail smoothing left; fitted to real faces."""

import pytest
import torch

from conftest import EXAMPLES, held_out_pairs, lite_pipeline_with
from mofrr_core.configs import build_model
from mofrr_core.data import RetouchPairs
from mofrr_core.metrics import psnr
from mofrr_core.models.unsmooth import guided_filter
from mofrr_core.pipelines.mofrr import Routing
from mofrr_core.training.unsmooth_fit import fit_unsmooth

SMOOTHING = 1


@pytest.fixture(scope="module")
def fitted():
    """A lite unsmooth fitted to 48 real example faces retouched by smoothing at random degrees."""
    model = build_model("unsmooth", "lite")
    pairs = RetouchPairs(EXAMPLES, size=256, kind="smoothing", seed=0, progress=False)
    assert fit_unsmooth(model, pairs, 48, progress=False) == 48
    return model.train(False)


def test_guided_filter_flattens_texture_and_keeps_edges():
    flat = torch.full((1, 3, 40, 50), 0.3)
    assert torch.allclose(guided_filter(flat, 4, 0.01), flat, atol=1e-6)
    texture = 0.5 + 0.02 * torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    edge = torch.zeros(1, 1, 64, 64)
    edge[..., 32:] = 1.0
    assert guided_filter(texture, 6, 0.01).std() < texture.std() / 3  # low-contrast texture goes
    kept = guided_filter(edge, 6, 0.01)
    assert (kept[..., 20] < 0.05).all() and (kept[..., 44] > 0.95).all()  # a strong edge stays


def test_zero_templates_are_the_identity(aligned):
    model = build_model("unsmooth", "lite").train(False)
    crops = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c, _ in aligned])
    landmarks = torch.stack([torch.from_numpy(lm).float() for _, lm in aligned])
    assert torch.equal(model(crops, landmarks, torch.ones(len(crops), 1)), crops)


def test_fitted_gain_restores_the_detail_of_other_faces(fitted):
    batch = held_out_pairs("smoothing")
    degrees = batch["degree"][:, SMOOTHING : SMOOTHING + 1]
    with torch.no_grad():
        restored = fitted(batch["retouched"], batch["retouched_landmarks"], degrees)
        gain = fitted.gain(batch["retouched_landmarks"], degrees, 256, 256)
    before, after = psnr(batch["retouched"], batch["original"]).mean(), psnr(restored, batch["original"]).mean()
    assert after > before + 1.0, (float(before), float(after))
    lm = batch["retouched_landmarks"]
    cheek = ((lm[:, 3] + lm[:, 31]) / 2).round().long()
    eye = lm[:, 36:42].mean(1).round().long()
    for i in range(len(lm)):  # more gain on the cheek (skin) than in the eye (not smoothed)
        assert gain[i, 0, cheek[i, 1], cheek[i, 0]] > gain[i, 0, eye[i, 1], eye[i, 0]] + 0.1
    weak = fitted.gain(lm, degrees * 0.5, 256, 256)
    assert (weak.abs().mean(dim=(1, 2, 3)) < gain.abs().mean(dim=(1, 2, 3))).all()  # a lesser degree, a lesser gain


def test_faces_without_landmarks_or_degree_are_left_alone(fitted):
    batch = held_out_pairs("smoothing", 3)
    landmarks = batch["retouched_landmarks"].clone()
    landmarks[0] = float("nan")
    with torch.no_grad():
        out = fitted(batch["retouched"], landmarks, torch.tensor([[0.8], [0.0], [0.8]]))
    assert torch.equal(out[:2], batch["retouched"][:2])
    assert not torch.equal(out[2], batch["retouched"][2])


def test_pipeline_unsmooths_the_rows_routed_to_smoothing(fitted):
    pipe = lite_pipeline_with("unsmooth", fitted)
    batch = held_out_pairs("smoothing", 2)
    x = batch["retouched"]
    named = pipe.route(x, experts=["smoothing"])
    mask = torch.tensor([[False, True, False, False], [False, False, False, False]])
    out = pipe.run_inverse("unsmooth", x, Routing(named.probabilities, batch["degree"], mask, torch.ones(2, 4), named.options, named.landmarks))
    assert torch.equal(out[1], x[1])
    assert psnr(out[:1], batch["original"][:1]) > psnr(x[:1], batch["original"][:1]) + 1.0
    with pytest.raises(Exception, match="unknown stage"):
        pipe.run_inverse("merger", x, named)


def test_chosen_by_the_router_a_retouch_is_undone_at_its_expected_degree(fitted):
    """Where the router chose it, a type is undone at its degree times its presence probability; named, at its degree."""
    pipe = lite_pipeline_with("unsmooth", fitted)
    batch = held_out_pairs("smoothing", 2)
    x, degrees = batch["retouched"], batch["degree"]
    probabilities = torch.tensor([[0.1, 0.9, 0.2, 0.3], [0.1, 0.6, 0.2, 0.3]])
    mask = probabilities >= 0.5
    routed, named = pipe.route(x), pipe.route(x, experts=["smoothing"])
    chosen = Routing(probabilities, degrees, mask, torch.ones(2, 4), routed.options, routed.landmarks)
    asked = Routing(probabilities, degrees, mask, torch.ones(2, 4), named.options, named.landmarks)
    assert torch.allclose(pipe.inverse_amounts("unsmooth", chosen)[:, 0], degrees[:, 1] * probabilities[:, 1])
    assert torch.equal(pipe.inverse_amounts("unsmooth", asked)[:, 0], degrees[:, 1])
    partial, full = pipe.run_inverse("unsmooth", x, chosen), pipe.run_inverse("unsmooth", x, asked)
    change = lambda out: (out - x).abs().flatten(1).mean(1)  # noqa: E731
    assert (change(partial) > 0).all() and (change(partial) < change(full)).all()
