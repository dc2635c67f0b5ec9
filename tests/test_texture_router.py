"""The router's texture head: what each retouch does to the texture statistics, routing and training."""

import cv2
import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from conftest import reading_router, route_three_ways, with_retouched  # noqa: E402
from test_training import tiny_recipe  # noqa: E402
from mofrr_core.configs import build_model  # noqa: E402
from mofrr_core.faces import crop_landmarks  # noqa: E402
from mofrr_core.models import Router  # noqa: E402
from mofrr_core.models.texture_head import DIFFERENCES, FEATURES, PER_CHANNEL, PER_REGION, REGIONS, lift_invariant, texture_features  # noqa: E402
from mofrr_core.retouch import retouch  # noqa: E402
from mofrr_core.training import Trainer, load_recipe, make_stages  # noqa: E402
from mofrr_core.training.reader_fit import fit_reading_heads, freeze_reading_heads  # noqa: E402
from mofrr_core.training.recipe import Recipe  # noqa: E402
from mofrr_core.weights import load_model  # noqa: E402
from mofrr_core.types import RETOUCH_TYPES  # noqa: E402

TEXTURE_TYPES = ("smoothing", "face_slimming", "eye_enlargement")
TEXTURE_COLUMNS = [RETOUCH_TYPES.index(t) for t in TEXTURE_TYPES]
ACROSS = 0  # log mean square of the step-1 second differences across the face (then along)
FLAT_ACROSS = DIFFERENCES  # the same on the region's flattest half


def stat(features: np.ndarray, region: str, index: int, channel: int = 0) -> float:
    """A region's statistic on the gray image (channel 0) or the lift-invariant lightness (1)."""
    return float(features[channel * PER_CHANNEL + REGIONS.index(region) * PER_REGION + index])


@pytest.fixture(scope="module")
def crops(aligned):
    """The real aligned crops, then each one smoothed."""
    return with_retouched(aligned, {"smoothing": 80})


def test_each_retouch_softens_its_own_region_and_not_the_others(aligned):
    for crop, lm in aligned:
        plain = texture_features(crop, lm)
        assert plain.shape == (FEATURES,) and np.isfinite(plain).all()
        smoothed = texture_features(retouch(crop, lm, {"smoothing": 80}, seed=0)[0], lm)
        assert stat(smoothed, "skin", ACROSS) < stat(plain, "skin", ACROSS) - 1.0
        assert abs(stat(smoothed, "top", ACROSS) - stat(plain, "top", ACROSS)) < 0.05
        enlarged, record = retouch(crop, lm, {"eye_enlargement": 100}, seed=0)
        enlarged = texture_features(enlarged, record.landmarks)
        assert stat(enlarged, "eyes", ACROSS) < stat(plain, "eyes", ACROSS) - 0.3
        slimmed, record = retouch(crop, lm, {"face_slimming": 100}, seed=0)
        slimmed = texture_features(slimmed, record.landmarks)
        assert stat(slimmed, "slim", ACROSS) < stat(plain, "slim", ACROSS) - 0.1
        for retouched in (enlarged, slimmed):  # the warps do not reach the top of the crop
            assert stat(retouched, "top", ACROSS) == pytest.approx(stat(plain, "top", ACROSS), abs=1e-4)


def test_whitening_lift_only_shifts_the_lift_invariant_lightness(aligned):
    """Whitening's lightness curve 1 - (1 - L)^(1 + k), on gray crops (no colour to clip), adds log(1 + k)."""
    for crop, _ in aligned:
        gray = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        light = cv2.cvtColor(gray, cv2.COLOR_RGB2Lab)[..., 0] / 100
        inside = (light > 0.1) & (light < 0.85)  # the lifted lightness stays inside the clip
        for lift in (0.1, 0.6):
            lab = np.zeros_like(gray)
            lab[..., 0] = 100 * (1 - (1 - light) ** (1 + lift))
            lifted = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
            shift = lift_invariant(lifted)[inside] - lift_invariant(gray)[inside]
            assert np.abs(shift - np.log1p(lift)).max() < 0.02


def test_whitening_leaves_the_skins_lift_invariant_texture_and_smoothing_does_not(aligned):
    """The simulator's whitening (lift, de-yellowing, a feathered mask) against its smoothing, on the skin."""
    for crop, lm in aligned:
        plain = texture_features(crop, lm)
        whitened = texture_features(retouch(crop, lm, {"whitening": 100}, seed=0)[0], lm)
        smoothed = texture_features(retouch(crop, lm, {"smoothing": 80}, seed=0)[0], lm)
        for index in range(DIFFERENCES):
            assert abs(stat(whitened, "skin", index, 1) - stat(plain, "skin", index, 1)) < 0.1
            assert stat(smoothed, "skin", index, 1) < stat(plain, "skin", index, 1) - 0.5


def test_a_light_slimming_softens_the_flat_half_of_the_lower_face_across_more_than_along(aligned):
    """Resampling by fractions of a pixel sideways softens across, not along; edges hide it in the whole region."""

    def anisotropy(features: np.ndarray, across: int) -> float:
        return stat(features, "slim", across) - stat(features, "slim", across + 1)

    for crop, lm in aligned:
        plain = texture_features(crop, lm)
        slimmed, record = retouch(crop, lm, {"face_slimming": 30}, seed=0)
        slimmed = texture_features(slimmed, record.landmarks)
        flat = anisotropy(plain, FLAT_ACROSS) - anisotropy(slimmed, FLAT_ACROSS)
        assert flat > 0.15 and flat > anisotropy(plain, ACROSS) - anisotropy(slimmed, ACROSS)


def test_the_texture_head_decides_its_types_and_only_when_landmarks_are_found(crops):
    router = reading_router(texture_types=TEXTURE_TYPES, colour_types=("whitening",))
    plain, routed, missing = route_three_ways(router, crops)
    assert torch.equal(routed.image_logits, plain.image_logits) and torch.equal(routed.image_degrees, plain.degrees)
    assert (routed.logits != plain.logits).all() and routed.read.all() and not plain.read.any()
    assert (routed.degrees[:, TEXTURE_COLUMNS] != plain.degrees[:, TEXTURE_COLUMNS]).all()
    assert torch.equal(missing.logits[0], plain.logits[0]) and torch.equal(missing.logits[1:], routed.logits[1:])
    assert torch.equal(missing.degrees[0], plain.degrees[0]) and not missing.read[0].any() and missing.read[1:].all()
    with pytest.raises(ValueError, match="not several"):
        build_model("router", "tiny", shape_types=("smoothing",), texture_types=("smoothing",))


def test_router_training_reaches_the_texture_head_and_it_learns_smoothing_and_its_degree(crops):
    stage = make_stages(Recipe(config="tiny"), "router")[0]
    router = build_model("router", "tiny", texture_types=TEXTURE_TYPES).train()
    half = len(crops) // 2
    labels = torch.tensor([[0, 0, 0, 0]] * half + [[0, 1, 0, 0]] * half, dtype=torch.float32)
    batch = {"retouched": crops, "presence": labels, "degree": 0.8 * labels}
    head = router.texture_head
    optimizer = torch.optim.Adam([{"params": head.linear.parameters()}, {"params": head.degree.parameters(), "lr": 2e-3}], lr=0.05)
    first = None
    for _ in range(40):
        losses = stage.losses(router, batch, None)
        optimizer.zero_grad()
        losses["landmarks"].backward()
        optimizer.step()
        first = first if first is not None else head.degree.weight.grad.abs().sum()
    assert set(losses) == {"presence", "degree", "landmarks"} and first > 0
    smoothing = RETOUCH_TYPES.index("smoothing")
    with torch.no_grad():
        out = router.eval()(crops, landmarks=batch["landmarks"])
        trained = router.train()(crops, landmarks=batch["landmarks"])  # standardised by this batch, as trained
    assert out.probabilities[half:, smoothing].min() > out.probabilities[:half, smoothing].max()
    assert (trained.degrees[half:, smoothing] - 0.8).abs().max() < 0.1


class Faces:
    """Plain then smoothed crops as training items, the same in every epoch."""

    def __init__(self, crops):
        half = len(crops) // 2
        self.items = [
            {"retouched": image, "presence": torch.tensor([0.0, float(i >= half), 0, 0]), "degree": torch.tensor([0.0, 0.8 * (i >= half), 0, 0])}
            for i, image in enumerate(crops)
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        return self.items[key[1]]


def test_reading_heads_fitted_exactly_read_their_training_faces_and_then_stay_as_they_are(crops):
    router = build_model("router", "tiny", texture_types=TEXTURE_TYPES).eval()
    fit_reading_heads(router, Faces(crops), count=len(crops), progress=False)
    head = router.texture_head
    measured, _ = head.measure(crops, crop_landmarks(crops))
    assert torch.allclose(head.norm.running_mean, measured.mean(0), atol=1e-4)
    smoothing, half = RETOUCH_TYPES.index("smoothing"), len(crops) // 2
    with torch.no_grad():
        out = router(crops, landmarks=crop_landmarks(crops))
    assert out.probabilities[half:, smoothing].min() > 0.5 > out.probabilities[:half, smoothing].max()
    assert (out.degrees[half:, smoothing] - 0.8).abs().max() < 0.05
    freeze_reading_heads(router)
    before = {k: v.clone() for k, v in head.state_dict().items() if not k.endswith("num_batches_tracked")}
    router.train()(crops, landmarks=crop_landmarks(crops))
    assert not any(p.requires_grad for p in head.parameters())
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in before.items())


def test_the_router_stage_fits_its_reading_heads_and_keeps_them(tmp_path):
    start = tmp_path / "start"
    reading_router(texture_types=TEXTURE_TYPES).save_pretrained(start)
    recipe = load_recipe(tiny_recipe(tmp_path, size=256, stages={"router": {"init": str(start), "exact_fit": 6}}))
    trainer = Trainer(make_stages(recipe, "router")[0], recipe, progress=False)
    trainer.run()
    expected = reading_router(texture_types=TEXTURE_TYPES)
    fit_reading_heads(expected, trainer._datasets()[0], 6, progress=False)
    trained = load_model(trainer.folder / "best", Router).texture_head
    assert torch.equal(trained.norm.running_mean, expected.texture_head.norm.running_mean)
    assert torch.allclose(trained.degree.weight, expected.texture_head.degree.weight)
    assert torch.allclose(trained.linear.weight, expected.texture_head.linear.weight)  # calibration moves only the bias
