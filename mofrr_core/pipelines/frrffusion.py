"""The FRRffusion pipeline: FMAR (coarse, low-resolution diffusion) then HFDG (x4 detail generator).

Per aligned face crop: the crop is resized to HFDG's output size (`upscale` x FMAR's
`sample_size`, aspect kept); FMAR restores it at 1 / `upscale` of that size (DDIM, `steps`
steps, T = 1000); HFDG super-resolves FMAR's output guided by the high-resolution retouched crop;
the residual over the resized crop is carried back to the crop's own size.
"""

from __future__ import annotations

import torch

from ..models import FMAR, HFDG
from ..models.ops import resize
from ..types import RETOUCH_TYPES
from .common import Callback, FaceInfo, Plan, RestorationPipeline, Sampler, Timings
from .fast_paths import inference

FMAR_STREAM = len(RETOUCH_TYPES) + 1


class FRRffusionPipeline(RestorationPipeline):
    """Coarse-to-fine face retouching restoration (FRRffusion)."""

    method = "frrffusion"
    components_used = ("fmar", "hfdg")
    # measured on a 2-core AVX512-BF16 CPU, lite at 256: an FMAR step 37 -> 31 ms, HFDG 124 -> 112 ms
    cpu_bf16_modules = ("fmar.denoiser", "hfdg")
    cpu_traced_modules = ("fmar.denoiser",)

    def __init__(self, fmar: FMAR, hfdg: HFDG):
        super().__init__()
        self.register_modules(fmar=fmar, hfdg=hfdg)

    @property
    def working_side(self) -> int:
        return self.hfdg.config.upscale * self.fmar.config.sample_size

    @property
    def working_multiple(self) -> int:
        return self.hfdg.config.upscale

    @inference
    def __call__(
        self,
        image,
        steps: int = 10,
        seed: int = 0,
        aligned: bool = False,
        size: int | None = None,
        callback: Callback | None = None,
        name="image",
    ):
        """Restore the retouched faces of `image` (or of each image of a list); returns RestorationResult(s).

        Same inputs and meaning as `MoFRRPipeline.__call__`, without routing options; faces report
        empty routing, active and degrees, and `expert_outputs["fmar"]` (FMAR's coarse result).
        """
        return self.run(image, steps=steps, seed=seed, aligned=aligned, size=size, callback=callback, name=name, options={})

    def plan(self, x: torch.Tensor, options: dict, timings: Timings, crops=None) -> Plan:
        return Plan(runs=1)

    # the stages, on a batch `x` of crops at the working size (see `to_working`)

    @inference
    def coarse(self, x: torch.Tensor, sampler: Sampler) -> torch.Tensor:
        """FMAR: the coarse restoration of every row, at 1 / `upscale` of the working size."""
        scale = self.hfdg.config.upscale
        low_size = (x.shape[-2] // scale, x.shape[-1] // scale)
        return self.fmar.restore(x, low_size, **sampler.kwargs(range(len(x)), FMAR_STREAM)).to(x.dtype)

    @inference
    def fine(self, low: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """HFDG: the coarse result super-resolved to the working size, guided by the retouched crops `x`."""
        return self.hfdg(low.to(x.dtype), x)

    # the pipeline's part of the face loop

    def restore(self, x: torch.Tensor, plan: Plan, sampler: Sampler, timings: Timings) -> tuple[torch.Tensor, list[FaceInfo]]:
        with timings.stage("fmar"):
            low = self.coarse(x, sampler)
        with timings.stage("hfdg"):
            restored = self.fine(low, x)
        coarse = resize(low, x.shape[-2:])
        return restored, [FaceInfo(outputs={"fmar": coarse[i]}) for i in range(len(x))]
