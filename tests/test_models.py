"""Networks of both methods at `tiny` sizes on CPU: shapes, identity init, sampling, saving."""

import json

import pytest
import torch

torch.set_num_threads(1)

from mofrr_core.configs import (  # noqa: E402
    COMPONENTS,
    REFERENCE_PARAMETERS,
    build_model,
    fp16_megabytes,
    parameter_counts,
)
from mofrr_core.diffusion import ddim_sample, make_scheduler, training_step  # noqa: E402
from mofrr_core.models.denoiser import check_prediction  # noqa: E402
from mofrr_core.models.hfcam import HFCAM  # noqa: E402
from mofrr_core.models.ops import resize  # noqa: E402
from mofrr_core.types import RETOUCH_TYPES  # noqa: E402
from mofrr_core.wavelets import HaarPyramid  # noqa: E402

SIZES = [(64, 64), (128, 128), (72, 56)]


def images(size, batch=2, seed=0, dtype=torch.float32):
    return torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(seed)).to(dtype)


def tiny(component, **overrides):
    torch.manual_seed(0)
    return build_model(component, "tiny", **overrides).train(False)


def randomise_(model):
    """Give zero-initialised output layers random weights so outputs depend on every input."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if not p.abs().sum():
                p.normal_(0, 0.1)
    return model


def run(component, model, x, steps=2):
    """One call of a component on images `x`, as the pipelines use it."""
    if component in ("router", "degree"):
        return model(x)
    if component == "wavefrr":
        return model.restore(x, 0.5, steps=steps, generator=torch.Generator().manual_seed(0))
    if component in ("shared_expert", "fmar"):
        return model.restore(x, steps=steps, generator=torch.Generator().manual_seed(0))
    if component == "merger":
        residuals = torch.stack([x * 0.1 * (i + 1) for i in range(len(RETOUCH_TYPES))], dim=1)
        return model(x, residuals, x * 0.05)
    if component == "hfdg":
        return model(resize(x, (x.shape[-2] // 4, x.shape[-1] // 4)), x)
    if component in ("unwarp", "unsmooth"):  # landmarks scattered over the image: frames of every size and angle
        landmarks = torch.rand(len(x), 68, 2, generator=torch.Generator().manual_seed(2)) * torch.tensor(x.shape[:-3:-1])
        return model(x, landmarks, torch.full((len(x), len(model.retouch_types)), 0.7))
    raise AssertionError(component)


def saved_config(model):
    config = json.loads(model.to_json_string())
    config.pop("_name_or_path", None)
    return config


def outputs_of(result):
    """The floating-point tensors a model returned (not masks such as the router's `read`)."""
    values = list(result.values()) if isinstance(result, dict) else [result]
    return [v for v in values if v.is_floating_point()]


# wavelets


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_haar_round_trip_is_exact(dtype):
    pyramid = HaarPyramid().to(dtype)
    x = images((64, 48), dtype=dtype) * 2 - 1
    bands = pyramid.split(x)
    assert bands.ll_ll.shape == (2, 3, 16, 12)
    assert bands.level2.shape == (2, 3, 3, 16, 12)
    assert bands.level1.shape == (2, 3, 3, 32, 24)
    assert torch.allclose(pyramid.merge(*bands), x, atol=1e-6, rtol=0)
    assert pyramid.state_dict() == {}


def test_haar_rejects_sizes_not_multiple_of_4():
    with pytest.raises(ValueError):
        HaarPyramid().split(torch.zeros(1, 3, 30, 32))


# shapes, fully convolutional behaviour and dtypes


@pytest.mark.parametrize("size", SIZES)
def test_router_and_degree_shapes(size):
    router_out = tiny("router")(images(size))
    for field in ("logits", "probabilities", "degrees"):
        assert getattr(router_out, field).shape == (2, len(RETOUCH_TYPES))
    assert 0 <= router_out.degrees.min() and router_out.degrees.max() <= 1
    degree_out = tiny("degree", retouch_type="smoothing")(images(size))
    assert degree_out.logits.shape == (2, 5)
    assert ((degree_out.level >= 1) & (degree_out.level <= 5)).all()
    assert torch.allclose(degree_out.degree, (degree_out.level - 0.5) / 5)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("component", ["wavefrr", "shared_expert", "merger", "hfdg"])
def test_image_to_image_models_keep_the_input_size(component, size):
    model = randomise_(tiny(component))
    out = run(component, model, images(size))
    assert out.shape == (2, 3, *size)
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("size", SIZES)
def test_fmar_works_at_its_working_size_or_any_other(size):
    model = randomise_(tiny("fmar"))
    x = images(size)
    assert run("fmar", model, x).shape == (2, 3, 32, 32)
    cond = model.condition(x, size=size)
    t = torch.tensor(500)
    assert model.denoise(torch.randn(model.sample_shape(cond)), t, cond).shape == (2, 3, *size)


def test_wavefrr_diffuses_a_quarter_size_ll_ll():
    model = tiny("wavefrr")
    cond = model.condition(images((128, 96)), torch.tensor([0.2, 0.9]))
    assert model.sample_shape(cond) == (2, 3, 32, 24)
    assert cond.degree_map.shape == (2, 1, 32, 24)
    assert torch.equal(cond.degree_map[:, 0, 0, 0], torch.tensor([0.2, 0.9]))
    out = model(torch.randn(2, 3, 32, 24), torch.tensor([10, 150]), cond)
    assert out.prediction.shape == out.prior.shape == (2, 3, 32, 24)


@pytest.mark.parametrize("component", COMPONENTS)
def test_models_follow_the_dtype_they_are_cast_to(component):
    model = randomise_(tiny(component)).to(torch.float64)
    for out in outputs_of(run(component, model, images((64, 64), dtype=torch.float64))):
        assert out.dtype == torch.float64


# identity at initialisation


@pytest.mark.parametrize("size", [(64, 64), (72, 56)])
def test_untrained_residual_restorers_are_the_identity(size):
    x = images(size)
    assert torch.allclose(run("wavefrr", tiny("wavefrr"), x), x, atol=2e-6, rtol=0)
    assert torch.equal(run("shared_expert", tiny("shared_expert"), x), x)
    assert torch.equal(run("merger", tiny("merger"), x), x)
    assert torch.equal(run("hfdg", tiny("hfdg", base="retouched"), x), x)
    assert torch.allclose(run("fmar", tiny("fmar"), x), resize(x, (32, 32)), atol=1e-6, rtol=0)


def test_hfdg_transfer_base_carries_the_low_resolution_change_onto_the_retouched_image():
    model = tiny("hfdg", base="transfer")
    high = images((64, 64), seed=1) * 0.8
    same = resize(high, (16, 16))
    assert torch.allclose(model(same, high), high, atol=1e-6)  # an unchanged low-resolution copy: the photo itself
    assert torch.allclose(model(same + 0.1, high), high + 0.1, atol=1e-5)  # a low-frequency change, at full resolution


def test_hfdg_default_base_is_the_bicubic_upsample():
    model = tiny("hfdg")
    low = images((16, 16))
    expected = torch.nn.functional.interpolate(low, scale_factor=4, mode="bicubic").clamp(0, 1)
    assert torch.allclose(model(low, images((64, 64), seed=1)), expected, atol=1e-6)


def test_hfcam_starts_as_the_identity_on_the_bands():
    bands = torch.randn(2, 3, 3, 32, 24)
    assert torch.equal(HFCAM(channels=8)(torch.randn(2, 3, 16, 12), bands), bands)


def test_residual_needs_sample_prediction():
    check_prediction("sample", True)
    check_prediction("epsilon", False)
    with pytest.raises(ValueError):
        check_prediction("epsilon", True)
    with pytest.raises(ValueError):
        check_prediction("v_prediction", False)


# IDEM and DDIM sampling


def test_idem_is_recomputed_from_x_t_at_every_step():
    model = randomise_(tiny("wavefrr"))
    calls = []
    model.idem.register_forward_hook(lambda module, args, out: calls.append(args[1].clone()))
    model.restore(images((64, 64)), 0.5, steps=5, generator=torch.Generator().manual_seed(0))
    assert len(calls) == 5
    assert not torch.equal(calls[0], calls[1])
    cond = model.condition(images((64, 64)), 0.5)
    x_t = torch.randn(model.sample_shape(cond))
    assert not torch.equal(model.prior(x_t, 100, cond), model.prior(x_t + 1, 100, cond))
    assert not torch.equal(model.prior(x_t, 100, cond), model.prior(x_t, 10, cond))


def test_ddim_visits_the_spec_timesteps_and_reports_progress():
    seen, progress = [], []

    def denoise(x_t, t):
        seen.append(int(t))
        return torch.zeros_like(x_t)

    ddim_sample(denoise, (1, 3, 8, 8), generator=torch.Generator().manual_seed(0), callback=lambda s, n: progress.append((s, n)))
    assert seen == list(range(180, -1, -20))
    assert progress == [(i, 10) for i in range(1, 11)]
    seen.clear()
    ddim_sample(denoise, (1, 3, 8, 8), steps=7)
    assert len(seen) == 7 and seen[-1] == 0


def test_ddim_callback_can_abort():
    def stop(step, total):
        raise InterruptedError

    with pytest.raises(InterruptedError):
        ddim_sample(lambda x, t: x, (1, 3, 8, 8), callback=stop)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_is_deterministic_per_seed(eta):
    model = randomise_(tiny("wavefrr", prediction_type="epsilon", residual=False))
    x = images((64, 64))

    def sample(seed):
        return model.restore(x, 0.5, steps=3, eta=eta, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sample(3), sample(3))
    assert not torch.allclose(sample(3), sample(4))


def test_ddim_batches_independently():
    model = randomise_(tiny("shared_expert"))
    x = images((32, 32), batch=3)
    out = model.restore(x, steps=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, 32, 32)
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample"])
def test_training_step_targets_and_x0_estimate(prediction_type):
    scheduler = make_scheduler(200, prediction_type)
    x0 = torch.randn(4, 3, 8, 8)

    def oracle(x_t, t, cond):
        assert cond == "condition" and t.shape == (4,)
        return torch.randn_like(x_t) if prediction_type == "epsilon" else x0.clone()

    step = training_step(oracle, x0, "condition", scheduler, generator=torch.Generator().manual_seed(0))
    assert step.prediction.shape == step.target.shape == step.noisy.shape == x0.shape
    assert torch.equal(step.target, step.noise if prediction_type == "epsilon" else x0)
    perfect = training_step(
        lambda x_t, t, c: step.noise if prediction_type == "epsilon" else x0, x0, None, scheduler,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.allclose(perfect.x0_estimate, x0, atol=1e-4)


def test_wavefrr_trains_through_training_step():
    model = tiny("wavefrr", prediction_type="epsilon", residual=False).train()
    x = images((64, 64))
    cond = model.condition(x, 0.5)
    clean = model.condition(images((64, 64), seed=5), 0.5).bands.ll_ll
    step = training_step(model.denoise, clean, cond, model.scheduler())
    loss = (step.prediction - step.target).pow(2).mean() + (model.prior(step.noisy, step.timesteps, cond)).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.denoiser.parameters())
    assert all(p.grad is not None for p in model.idem.parameters())


# saving and sizes


@pytest.mark.parametrize("component", COMPONENTS)
def test_save_and_load_round_trip_is_bit_identical(component, tmp_path):
    model = randomise_(tiny(component))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = type(model).from_pretrained(tmp_path).train(False)
    assert saved_config(loaded) == saved_config(model)
    x = images((64, 64))
    for a, b in zip(outputs_of(run(component, model, x)), outputs_of(run(component, loaded, x))):
        assert torch.equal(a, b)


def test_paper_parameter_counts_match_the_spec():
    counts = parameter_counts("paper")
    for key, reference in REFERENCE_PARAMETERS.items():
        assert abs(counts[key] - reference) <= 0.15 * reference, (key, counts[key], reference)


def test_lite_set_fits_the_size_budget():
    assert fp16_megabytes("lite") < 60
