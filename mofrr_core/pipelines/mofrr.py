"""The MoFRR pipeline: router, degree estimators, gated WaveFRR experts, shared expert, merger.

Per aligned face crop, resized to `working_size` (aspect kept):
1. the router gives each retouch type's presence probability;
2. each type's degree estimator gives its degree (reported for every type, fed to its expert);
3. gating picks the experts: "hard" runs those with probability >= threshold (the others do
   not run at all); "soft" runs all four and weights each residual by its probability;
   `experts=[...]` runs exactly the listed ones at full weight (the router still reports);
4. every chosen WaveFRR expert restores the crop (DDIM, `steps` steps, IDEM at every step), and
   the shared expert always does;
5. the merger fuses [crop, per-type residuals (zeros for experts that did not run), shared
   residual] into the restored crop, whose residual over the working-size input is carried
   back to the crop's own size.
"""

from __future__ import annotations

import torch

from ..errors import MofrrError
from ..models import DegreeEstimator, Merger, Router, SharedExpert, WaveFRRExpert
from ..types import RETOUCH_TYPES, check_type
from .common import Callback, FaceInfo, Plan, RestorationPipeline, Sampler, Timings

GATINGS = ("hard", "soft")
# working size (side of the square the networks see) of each named configuration
WORKING_SIZES = {"paper": 512, "lite": 256, "tiny": 64}
SHARED_STREAM = len(RETOUCH_TYPES)


def parse_experts(experts) -> list[str] | None:
    """None, a list of retouch types or a comma-separated string -> list of types in the fixed order."""
    if experts is None:
        return None
    names = [e.strip() for e in experts.split(",") if e.strip()] if isinstance(experts, str) else list(experts)
    try:
        chosen = {check_type(name) for name in names}
    except ValueError as exc:
        raise MofrrError(f"experts: {exc}") from None
    return [t for t in RETOUCH_TYPES if t in chosen]


class MoFRRPipeline(RestorationPipeline):
    """Mixture-of-experts face retouching restoration (MoFRR). See the module docstring for the flow."""

    method = "mofrr"
    components_used = ("router", "degree", "wavefrr", "shared_expert", "merger")

    def __init__(
        self,
        router: Router,
        degree_whitening: DegreeEstimator,
        degree_smoothing: DegreeEstimator,
        degree_face_slimming: DegreeEstimator,
        degree_eye_enlargement: DegreeEstimator,
        wavefrr_whitening: WaveFRRExpert,
        wavefrr_smoothing: WaveFRRExpert,
        wavefrr_face_slimming: WaveFRRExpert,
        wavefrr_eye_enlargement: WaveFRRExpert,
        shared_expert: SharedExpert,
        merger: Merger,
        working_size: int = 256,
    ):
        super().__init__()
        if isinstance(working_size, bool) or not isinstance(working_size, int) or working_size < 32:
            raise ValueError(f"working_size must be a whole number >= 32, got {working_size!r}")
        self.register_modules(
            router=router,
            degree_whitening=degree_whitening,
            degree_smoothing=degree_smoothing,
            degree_face_slimming=degree_face_slimming,
            degree_eye_enlargement=degree_eye_enlargement,
            wavefrr_whitening=wavefrr_whitening,
            wavefrr_smoothing=wavefrr_smoothing,
            wavefrr_face_slimming=wavefrr_face_slimming,
            wavefrr_eye_enlargement=wavefrr_eye_enlargement,
            shared_expert=shared_expert,
            merger=merger,
        )
        self.register_to_config(working_size=working_size)

    @classmethod
    def config_options(cls, name: str) -> dict:
        return {"working_size": WORKING_SIZES[name]}

    @property
    def working_side(self) -> int:
        return self.config.working_size

    def expert(self, retouch_type: str) -> WaveFRRExpert:
        """The WaveFRR expert of a retouch type."""
        return getattr(self, f"wavefrr_{retouch_type}")

    def degree_estimator(self, retouch_type: str) -> DegreeEstimator:
        """The degree estimator of a retouch type."""
        return getattr(self, f"degree_{retouch_type}")

    @torch.inference_mode()
    def __call__(
        self,
        image,
        steps: int = 10,
        seed: int = 0,
        aligned: bool = False,
        size: int | None = None,
        gating: str = "hard",
        threshold: float = 0.5,
        experts=None,
        callback: Callback | None = None,
        name="image",
    ):
        """Restore the retouched faces of `image` (or of each image of a list); returns RestorationResult(s).

        `image`: PIL image, H x W x 3 array in [0, 1], (3, H, W) / (H, W, 3) tensor, Photo, or a
        list of them. `aligned`: the image is already an aligned face crop (no detection; output
        of the same size). `size`: aligned crop side for whole photos (None: each face's native
        size, 256 to 1024; the networks always work at `working_size` and only their residual is
        carried back). `gating`, `threshold`, `experts`: see the module docstring.
        `callback(done, total)`: after every denoising step of the whole call; raise to abort.
        """
        if gating not in GATINGS:
            raise MofrrError(f"gating must be one of {', '.join(GATINGS)}, got {gating!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise MofrrError(f"threshold must be a number in [0, 1], got {threshold!r}")
        options = {"gating": gating, "threshold": float(threshold), "experts": parse_experts(experts)}
        return self.run(image, steps=steps, seed=seed, aligned=aligned, size=size, callback=callback, name=name, options=options)

    def plan(self, x: torch.Tensor, options: dict, timings: Timings) -> Plan:
        """Routing and degrees of a batch, and which experts run on which rows with which weight."""
        with timings.stage("router"):
            probabilities = self.router(x).probabilities.float()
        with timings.stage("degree"):
            degrees = torch.stack([self.degree_estimator(t)(x).degree.float() for t in RETOUCH_TYPES], dim=1)
        weights = torch.ones_like(probabilities)
        if options["experts"] is not None:
            mask = torch.tensor([t in options["experts"] for t in RETOUCH_TYPES], device=x.device).expand_as(probabilities)
        elif options["gating"] == "soft":
            mask, weights = torch.ones_like(probabilities, dtype=torch.bool), probabilities
        else:
            mask = probabilities >= options["threshold"]
        runs = int(mask.any(dim=0).sum()) + 1  # the chosen experts and the shared expert
        return Plan(runs, dict(probabilities=probabilities, degrees=degrees, mask=mask, weights=weights))

    def restore(self, x: torch.Tensor, plan: Plan, sampler: Sampler, timings: Timings) -> tuple[torch.Tensor, list[FaceInfo]]:
        probabilities, degrees, mask, weights = (plan.data[k] for k in ("probabilities", "degrees", "mask", "weights"))
        outputs: dict[str, torch.Tensor] = {}
        with timings.stage("experts"):
            for j, retouch_type in enumerate(RETOUCH_TYPES):
                rows = mask[:, j].nonzero().flatten().tolist()
                if rows:
                    restored = self.expert(retouch_type).restore(x[rows], degrees[rows, j].to(x.dtype), **sampler.kwargs(rows, j))
                    outputs[retouch_type] = x.clone()
                    outputs[retouch_type][rows] = restored.to(x.dtype)
        with timings.stage("shared_expert"):
            shared = self.shared_expert.restore(x, **sampler.kwargs(range(len(x)), SHARED_STREAM)).to(x.dtype)
        with timings.stage("merger"):
            residuals = Merger.stack_residuals(x, outputs) * weights.to(x.dtype)[:, :, None, None, None]
            merged = self.merger(x, residuals, shared - x)
        infos = []
        for i in range(len(x)):
            active = [t for j, t in enumerate(RETOUCH_TYPES) if mask[i, j]]
            infos.append(
                FaceInfo(
                    routing={t: float(probabilities[i, j]) for j, t in enumerate(RETOUCH_TYPES)},
                    active=active,
                    degrees={t: float(degrees[i, j]) for j, t in enumerate(RETOUCH_TYPES)},
                    outputs={**{t: outputs[t][i] for t in active}, "shared": shared[i]},
                )
            )
        return merged, infos
