"""Diffusion schedules, the training-step helper and a conditional DDIM sampler.

Linear betas 1e-4 .. 0.02 for every model; T = 200 for the MoFRR experts and T = 1000 for
FRRffusion's FMAR. Denoisers are plain callables so that any model (and its per-step
modules such as WaveFRR's IDEM) is re-evaluated on the current x_t at every step.
"""

from dataclasses import dataclass
from typing import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

MOFRR_TIMESTEPS = 200
FMAR_TIMESTEPS = 1000

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_scheduler(
    num_train_timesteps: int = MOFRR_TIMESTEPS, prediction_type: str = "epsilon", kind: str = "ddim"
) -> DDIMScheduler | DDPMScheduler:
    """A linear-beta scheduler; "ddim" samples with `ddim_sample`, "ddpm" is the ancestral one.

    The DDIM one uses leading spacing with no offset, so T = 200 and 10 steps give the
    timesteps 180, 160, ..., 0.
    """
    common = dict(
        num_train_timesteps=num_train_timesteps,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        prediction_type=prediction_type,
        clip_sample=False,
    )
    if kind == "ddim":
        return DDIMScheduler(**common, set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading")
    if kind == "ddpm":
        return DDPMScheduler(**common)
    raise ValueError(f"unknown scheduler kind {kind!r}; choose 'ddim' or 'ddpm'")


@dataclass
class TrainingStep:
    """What one diffusion training step produced, for the losses.

    `target` matches `prediction` in the scheduler's parameterisation (the noise for
    "epsilon", the clean sample for "sample"); `x0_estimate` is the one-step clean estimate
    used by spatial losses.
    """

    noisy: torch.Tensor
    timesteps: torch.Tensor
    noise: torch.Tensor
    prediction: torch.Tensor
    target: torch.Tensor
    x0_estimate: torch.Tensor


def training_step(
    denoise_fn: Callable,
    x0: torch.Tensor,
    cond,
    scheduler: DDIMScheduler | DDPMScheduler,
    generator: torch.Generator | None = None,
) -> TrainingStep:
    """Sample t and noise, make x_t from the clean `x0` and call `denoise_fn(x_t, t, cond)`."""
    num_steps = scheduler.config.num_train_timesteps
    noise = randn_tensor(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    draw_device = generator.device if generator is not None else x0.device
    timesteps = torch.randint(0, num_steps, (x0.shape[0],), generator=generator, device=draw_device).to(x0.device)
    noisy = scheduler.add_noise(x0, noise, timesteps)
    prediction = denoise_fn(noisy, timesteps, cond)
    if scheduler.config.prediction_type == "epsilon":
        alpha = scheduler.alphas_cumprod.to(device=x0.device, dtype=x0.dtype)[timesteps].reshape(-1, 1, 1, 1)
        x0_estimate = (noisy - (1 - alpha).sqrt() * prediction) / alpha.sqrt()
        target = noise
    elif scheduler.config.prediction_type == "sample":
        x0_estimate, target = prediction, x0
    else:
        raise ValueError(f"unsupported prediction type {scheduler.config.prediction_type!r}")
    return TrainingStep(noisy, timesteps, noise, prediction, target, x0_estimate)


def ddim_sample(
    denoise_fn: Denoiser,
    shape: tuple[int, ...],
    steps: int = 10,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
    callback: Callable[[int, int], object] | None = None,
    scheduler: DDIMScheduler | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Run DDIM from N(0, I) noise of `shape` and return the final clean-sample prediction.

    `denoise_fn(x_t, t)` is called once per step with the current x_t (the condition is bound
    by the caller). `callback(step, total)` runs after each step, step counting from 1; raise
    from it to abort. The scheduler defaults to the MoFRR one (T = 200, epsilon). Gradients
    flow through the chain unless the caller disables them (`torch.no_grad()`), so the
    reference's photo loss on the whole chain is possible.
    """
    scheduler = scheduler or make_scheduler()
    scheduler.set_timesteps(steps)
    x_t = randn_tensor(shape, generator=generator, device=torch.device(device or "cpu"), dtype=dtype)
    x0 = x_t
    total = len(scheduler.timesteps)
    for step, t in enumerate(scheduler.timesteps, start=1):
        prediction = denoise_fn(x_t, t.to(x_t.device))
        result = scheduler.step(prediction, t, x_t, eta=eta, generator=generator)
        x_t, x0 = result.prev_sample, result.pred_original_sample
        if callback is not None:
            callback(step, total)
    return x0
