"""The router's colour head: skin colour features, routing and training (calibration: test_landmark_router)."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from conftest import reading_router, route_three_ways, with_retouched  # noqa: E402
from mofrr_core.configs import build_model  # noqa: E402
from mofrr_core.models.colour_head import FEATURES, REGIONS, STATS, colour_features  # noqa: E402
from mofrr_core.retouch import retouch  # noqa: E402
from mofrr_core.training import make_stages  # noqa: E402
from mofrr_core.training.recipe import Recipe  # noqa: E402
from mofrr_core.types import RETOUCH_TYPES  # noqa: E402

WHITENING = RETOUCH_TYPES.index("whitening")
LIPS_B = STATS + REGIONS.index("lips") * STATS + 2  # skin b minus lips b
OTHERS = [c for c in range(len(RETOUCH_TYPES)) if c != WHITENING]


def colour_router(**extra):
    return reading_router(colour_types=("whitening",), **extra)


@pytest.fixture(scope="module")
def crops(aligned):
    """The real aligned crops, then each one whitened."""
    return with_retouched(aligned, {"whitening": 80})


def test_whitening_moves_the_skin_against_the_lips_more_than_a_colour_cast_does(aligned):
    for crop, lm in aligned:
        plain = colour_features(crop, lm)
        whitened = colour_features(retouch(crop, lm, {"whitening": 80}, seed=0)[0], lm)
        cast = colour_features(np.clip(crop * np.array([0.93, 1.0, 1.08], np.float32), 0, 1), lm)
        assert plain.shape == (FEATURES,) and np.isfinite(plain).all()
        assert whitened[0] > plain[0] and whitened[LIPS_B] < plain[LIPS_B] - 1.5  # lighter skin, less yellow than the lips
        assert abs(cast[LIPS_B] - plain[LIPS_B]) < 0.5 * abs(cast[2] - plain[2])  # a cast moves skin and lips together


def test_the_colour_head_decides_whitening_and_only_when_landmarks_are_found(crops):
    router = colour_router(shape_types=("face_slimming",))
    plain, routed, missing = route_three_ways(router, crops)
    assert torch.equal(routed.image_logits, plain.image_logits)
    assert (routed.logits[:, WHITENING] != plain.logits[:, WHITENING]).all()
    assert torch.equal(routed.logits[:, [1, 3]], plain.logits[:, [1, 3]])
    assert torch.equal(missing.logits[0], plain.logits[0]) and torch.equal(missing.logits[1:], routed.logits[1:])
    with pytest.raises(ValueError, match="not several"):
        build_model("router", "tiny", shape_types=("whitening",), colour_types=("whitening",))


def test_router_training_reaches_the_colour_head_and_it_learns_whitening(crops):
    stage = make_stages(Recipe(config="tiny"), "router")[0]
    router = build_model("router", "tiny", colour_types=("whitening",)).train()
    half = len(crops) // 2
    labels = torch.tensor([[0, 0, 0, 0]] * half + [[1, 0, 0, 0]] * half, dtype=torch.float32)
    batch = {"retouched": crops, "presence": labels, "degree": 0.8 * labels}
    optimizer = torch.optim.Adam(router.colour_head.parameters(), lr=0.05)
    for _ in range(30):
        losses = stage.losses(router, batch, None)
        optimizer.zero_grad()
        losses["landmarks"].backward()
        optimizer.step()
    assert set(losses) == {"presence", "degree", "landmarks"}
    with torch.no_grad():
        probabilities = router.eval()(crops, landmarks=batch["landmarks"]).probabilities[:, WHITENING]
    assert probabilities[half:].min() > probabilities[:half].max()
