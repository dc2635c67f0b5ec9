"""FMAR's colour condition: the skin's colour statistics added to the diffusion UNet's timestep embedding."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from conftest import with_retouched  # noqa: E402
from mofrr_core.configs import build_model  # noqa: E402
from mofrr_core.faces import crop_landmarks  # noqa: E402
from mofrr_core.imageio import load_photo  # noqa: E402
from mofrr_core.models.colour_head import FEATURES, colour_features  # noqa: E402
from mofrr_core.pipelines import FRRffusionPipeline  # noqa: E402


@pytest.fixture(scope="module")
def crops(aligned):
    """The real aligned crops, then each one whitened."""
    return with_retouched(aligned, {"whitening": 80})


def acting_fmar():
    """A tiny FMAR whose output is not the identity (a fresh residual one returns its input)."""
    model = build_model("fmar", "tiny").train(False)
    torch.manual_seed(0)
    torch.nn.init.normal_(model.denoiser.unet.conv_out.weight, std=0.05)
    return model


def conditioned_copy(model):
    """`model` (a tiny FMAR) with a colour condition, its other weights unchanged."""
    copy = type(model).from_config(model.config, colour_condition=True)
    assert copy.load_state_dict(model.state_dict(), strict=False).missing_keys == [
        "colour.mean", "colour.scale", "colour.project.weight", "colour.project.bias"
    ]
    return copy.train(False)


def sample(model, images):
    return model.restore(images, steps=2, generator=torch.Generator().manual_seed(0))


def test_a_colour_condition_joins_a_trained_restorer_without_changing_it_until_it_learns(crops):
    plain = acting_fmar()
    model = conditioned_copy(plain)
    assert not model.colour.fitted
    features, found = model.colour.measure(crops)
    assert features.shape == (len(crops), FEATURES) and bool(found.all())
    model.colour.fit(features)
    assert model.colour.fitted and torch.equal(sample(model, crops), sample(plain, crops))
    torch.nn.init.normal_(model.colour.project.weight, std=1.0)
    conditioned = sample(model, crops)
    changed = (conditioned - sample(plain, crops)).abs().flatten(1).amax(1)
    assert bool((changed > 1e-3).all())


def test_the_colour_embedding_reads_the_skin_around_the_faces_landmarks(crops):
    model = conditioned_copy(build_model("fmar", "tiny"))
    landmarks = crop_landmarks(crops)
    features, _ = model.colour.measure(crops, landmarks)
    expected = colour_features(crops[0].permute(1, 2, 0).numpy(), landmarks[0].numpy())
    assert torch.allclose(features[0], torch.from_numpy(expected))
    model.colour.fit(features)
    torch.nn.init.eye_(model.colour.project.weight[:FEATURES])
    embedding = model.colour(crops, landmarks)
    half = len(crops) // 2
    lighter = embedding[half:, 0] - embedding[:half, 0]  # the skin's median L, standardised: whitening lifts it
    assert bool((lighter > 0.2).all())
    noise = torch.rand(2, 3, 256, 256)
    assert torch.equal(model.colour(noise), model.colour.project.bias.expand(2, -1))  # no face: the training mean


def test_frrffusion_runs_a_colour_conditioned_fmar_on_whole_photos(photos):
    fmar = conditioned_copy(acting_fmar())
    fmar.colour.fit(torch.randn(8, FEATURES) * 5 + 40)
    torch.nn.init.normal_(fmar.colour.project.weight, std=0.1)
    pipe = FRRffusionPipeline(fmar=fmar, hfdg=build_model("hfdg", "tiny").train(False))
    photo = load_photo(photos[0])
    result = pipe(photo, steps=2, size=256)
    assert result.image.rgb.shape == photo.rgb.shape and len(result.faces) == 1
    torch.nn.init.zeros_(fmar.colour.project.weight)
    coarse = [pipe(photo, steps=2, size=256).faces[0].expert_outputs["fmar"] for _ in range(2)]
    assert np.array_equal(*coarse) and not np.array_equal(coarse[0], result.faces[0].expert_outputs["fmar"])
