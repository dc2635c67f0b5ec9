"""The MoFRR pipeline: router, degree estimators, unsmooth and unwarp, gated WaveFRR experts, shared expert, merger.

Per aligned face crop, resized to `working_size` (aspect kept):
1. the router gives each retouch type's presence probability (for its `shape_types`, `colour_types`
   and `texture_types`, read from the crop's landmarks and the colours and texture around them when
   dlib finds them);
2. each type's degree (reported for every type, fed to its expert): where the router read the type
   from the landmarks, its reading head's degree, else the type's degree estimator's;
3. gating picks the experts: "hard" runs those with probability >= threshold (the others do
   not run at all); "soft" runs all four and weights each residual by its probability;
   `experts=[...]` runs exactly the listed ones at full weight (the router still reports);
4. unsmooth scales the fine detail left in the skin back up where smoothing was chosen, and unwarp
   moves the pixels of the chosen warps (face slimming, eye enlargement) back, each by templates
   placed on the crop's landmarks; chosen by the router, only the types it reads reliably enough
   (their `routed_types`: all three in the bundled weights), each at its
   degree times its presence probability; named in `experts`, all, at their degrees;
5. every chosen WaveFRR expert restores that crop (DDIM, `steps` steps, IDEM at every step),
   and the shared expert always does;
6. the merger fuses [crop, per-type residuals (zeros for experts that did not run), shared
   residual] into the restored crop, whose residual over the working-size input is carried
   back to the crop's own size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import MofrrError
from ..faces import crop_landmarks
from ..models import DegreeEstimator, Merger, Router, SharedExpert, Unsmooth, Unwarp, WaveFRRExpert
from ..models.landmark_frames import select_amounts
from ..types import RETOUCH_TYPES, check_type
from .common import Callback, FaceInfo, Plan, RestorationPipeline, Sampler, Timings
from .fast_paths import inference, sampling_pool

GATINGS = ("hard", "soft")
# working size (side of the square the networks see) of each named configuration
WORKING_SIZES = {"paper": 512, "lite": 256, "tiny": 64}
SHARED_STREAM = len(RETOUCH_TYPES)
# the models that undo retouches along landmark frames, in the order they run
INVERSES = ("unsmooth", "unwarp")


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


def routing_options(gating: str = "hard", threshold: float = 0.5, experts=None) -> dict:
    """Checked gating options; a one-line MofrrError for a bad value."""
    if gating not in GATINGS:
        raise MofrrError(f"gating must be one of {', '.join(GATINGS)}, got {gating!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise MofrrError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return {"gating": gating, "threshold": float(threshold), "experts": parse_experts(experts)}


@dataclass
class Routing:
    """The router's and degree estimators' verdict on a batch and the gating decision (columns in RETOUCH_TYPES order).

    `probabilities`, `degrees`, `weights`: (B, 4) floats; `mask`: (B, 4) bools, which expert runs on
    which row; `weights`: each expert residual's weight in the merge; `options`: the gating options;
    `landmarks`: (B, 68, 2) in the crops' pixels, NaN where dlib found no face.
    """

    probabilities: torch.Tensor
    degrees: torch.Tensor
    mask: torch.Tensor
    weights: torch.Tensor
    options: dict
    landmarks: torch.Tensor

    def amounts(self) -> torch.Tensor:
        """(B, 4): the degree each row is restored at per type, 0 where that type's expert does not run."""
        return self.degrees * self.mask * self.weights

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def runs(self) -> int:
        """Sampling runs the batch needs: the experts chosen for any row, and the shared expert."""
        return int(self.mask.any(dim=0).sum()) + 1

    def rows(self, retouch_type: str) -> list[int]:
        """The batch rows routed to the expert of `retouch_type`."""
        return self.mask[:, RETOUCH_TYPES.index(retouch_type)].nonzero().flatten().tolist()

    def face(self, i: int) -> FaceInfo:
        """Routing, active experts and degrees of row `i`, as plain Python values."""
        return FaceInfo(
            routing={t: float(self.probabilities[i, j]) for j, t in enumerate(RETOUCH_TYPES)},
            active=[t for j, t in enumerate(RETOUCH_TYPES) if self.mask[i, j]],
            degrees={t: float(self.degrees[i, j]) for j, t in enumerate(RETOUCH_TYPES)},
        )


class MoFRRPipeline(RestorationPipeline):
    """Mixture-of-experts face retouching restoration (MoFRR). See the module docstring for the flow."""

    method = "mofrr"
    components_used = ("router", "degree", "unwarp", "unsmooth", "wavefrr", "shared_expert", "merger")
    # measured on a 2-core AVX512-BF16 CPU, lite at 256: HFCAM level 1 135 -> 82 ms, a shared-expert step
    # 69 -> 52 ms. The small WaveFRR UNets get slower (12 -> 21 ms); the merger gains (95 -> 58 ms) but its
    # output is the final image, where bf16 rounding reached 1.3e-3; both stay fp32
    cpu_bf16_modules = ("wavefrr_*.hfcam_level*", "shared_expert.denoiser")
    cpu_traced_modules = ("wavefrr_*.denoiser", "wavefrr_*.idem", "shared_expert.denoiser", "merger")

    def __init__(
        self,
        router: Router,
        degree_whitening: DegreeEstimator,
        degree_smoothing: DegreeEstimator,
        degree_face_slimming: DegreeEstimator,
        degree_eye_enlargement: DegreeEstimator,
        unwarp: Unwarp,
        unsmooth: Unsmooth,
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
            unwarp=unwarp,
            unsmooth=unsmooth,
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

    @inference
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
        options = routing_options(gating, threshold, experts)
        return self.run(image, steps=steps, seed=seed, aligned=aligned, size=size, callback=callback, name=name, options=options)

    # the stages, on a batch `x` of crops at the working size (see `to_working`)

    @inference
    def route(
        self, x: torch.Tensor, gating: str = "hard", threshold: float = 0.5, experts=None, timings: Timings | None = None, crops=None
    ) -> Routing:
        """Stages 1-3: routing probabilities, degrees, and which experts run on which rows with which weight.
        `crops`: the faces of `x` at their own resolution ((3, h, w) each, or a batch), on which the router reads
        its `native_types` (a warp's trace fades when a large face is shrunk to the working size)."""
        options = routing_options(gating, threshold, experts)
        timings = timings or Timings(self.device)
        with timings.stage("router"):
            landmarks = self.router.find_landmarks(x)
            routed = self.router(x, landmarks=landmarks, reading=crops)
            if landmarks is None:  # a router that reads none: unsmooth and unwarp still need them
                landmarks = crop_landmarks(x)
            probabilities = routed.probabilities.float()
        with timings.stage("degree"):
            degrees = routed.degrees.float().clone()
            for j, t in enumerate(RETOUCH_TYPES):
                if not routed.read[:, j].all():
                    degrees[:, j] = torch.where(routed.read[:, j], degrees[:, j], self.degree_estimator(t)(x).degree.float())
        weights = torch.ones_like(probabilities)
        if options["experts"] is not None:
            mask = torch.tensor([t in options["experts"] for t in RETOUCH_TYPES], device=x.device).expand_as(probabilities)
        elif options["gating"] == "soft":
            mask, weights = torch.ones_like(probabilities, dtype=torch.bool), probabilities
        else:
            mask = probabilities >= options["threshold"]
        return Routing(probabilities, degrees, mask, weights, options, landmarks)

    @inference
    def run_inverse(self, key: str, x: torch.Tensor, routing: Routing) -> torch.Tensor:
        """Stage 4: `key` ("unsmooth", then "unwarp") undoes its chosen retouches, each at its row's degree (times
        its weight); rows without one unchanged. Chosen by the router, only the model's `routed_types` are
        undone; named in `experts`, every type it knows."""
        amounts = self.inverse_amounts(key, routing)
        if not amounts.any():
            return x
        return getattr(self, key)(x, routing.landmarks, amounts).to(x.dtype)

    def inverse_amounts(self, key: str, routing: Routing) -> torch.Tensor:
        """(B, n): the degree each of the n types of `key` ("unsmooth" or "unwarp") is undone at per row, 0: not.

        Named in `experts`, a type is undone at its degree; chosen by the router, at its degree times the
        router's presence probability: the amount to expect given the router's doubt, which costs little
        where the retouch is not there and keeps most of the gain where it is (measured in the README)."""
        if key not in INVERSES:
            raise MofrrError(f"unknown stage {key!r}; choose one of {', '.join(INVERSES)}")
        routed = routing.options["experts"] is None
        amounts = routing.degrees * routing.mask * routing.probabilities if routed else routing.amounts()
        return select_amounts(getattr(self, key), amounts, routed_only=routed)

    def undone(self, routing: Routing) -> list[list[str]]:
        """Per row, the retouch types unsmooth and unwarp undo (chosen, and on a face with landmarks)."""
        found = torch.isfinite(routing.landmarks).flatten(1).all(dim=1).tolist()
        rows: list[list[str]] = [[] for _ in range(len(routing))]
        for key in INVERSES:
            for i, j in (self.inverse_amounts(key, routing) > 0).nonzero().tolist():
                if found[i]:
                    rows[i].append(getattr(self, key).retouch_types[j])
        return rows

    @inference
    def run_expert(self, retouch_type: str, x: torch.Tensor, routing: Routing, sampler: Sampler) -> torch.Tensor:
        """Stage 5: the WaveFRR expert's restoration of the rows routed to it, at their degree; other rows unchanged."""
        if retouch_type not in RETOUCH_TYPES:
            raise MofrrError(f"unknown retouch type {retouch_type!r}; choose one of {', '.join(RETOUCH_TYPES)}")
        j = RETOUCH_TYPES.index(retouch_type)
        output = x.clone()
        rows = routing.rows(retouch_type)
        if rows:
            restored = self.expert(retouch_type).restore(x[rows], routing.degrees[rows, j].to(x.dtype), **sampler.kwargs(rows, j))
            output[rows] = restored.to(x.dtype)
        return output

    @inference
    def run_shared(self, x: torch.Tensor, sampler: Sampler) -> torch.Tensor:
        """Stage 5: the shared expert's restoration of every row."""
        return self.shared_expert.restore(x, **sampler.kwargs(range(len(x)), SHARED_STREAM)).to(x.dtype)

    @inference
    def merge(self, x: torch.Tensor, routing: Routing, outputs: dict[str, torch.Tensor], shared: torch.Tensor) -> torch.Tensor:
        """Stage 6: fuse the crop, the experts' residuals (weighted by routing; missing experts are zeros) and the shared residual."""
        residuals = Merger.stack_residuals(x, outputs) * routing.weights.to(x.dtype)[:, :, None, None, None]
        return self.merger(x, residuals, shared - x)

    @staticmethod
    def _timed(timings: Timings, stage: str, fn, *args):
        with timings.stage(stage):
            return fn(*args)

    # the pipeline's part of the face loop

    def plan(self, x: torch.Tensor, options: dict, timings: Timings, crops=None) -> Plan:
        routing = self.route(x, timings=timings, crops=crops, **options)
        return Plan(routing.runs, dict(routing=routing))

    def restore(self, x: torch.Tensor, plan: Plan, sampler: Sampler, timings: Timings) -> tuple[torch.Tensor, list[FaceInfo]]:
        routing: Routing = plan.data["routing"]
        for key in INVERSES:
            x = self._timed(timings, key, self.run_inverse, key, x, routing)
        with sampling_pool(self.fast_paths.parallel_sampling and not self.fast_paths.compile, self.device) as submit:
            shared = submit(self._timed, timings, "shared_expert", self.run_shared, x, sampler)
            runs = {t: submit(self._timed, timings, "experts", self.run_expert, t, x, routing, sampler) for t in RETOUCH_TYPES if routing.rows(t)}
            outputs = {t: run.result() for t, run in runs.items()}
            shared = shared.result()
        with timings.stage("merger"):
            merged = self.merge(x, routing, outputs, shared)
        infos = []
        for i, undone in enumerate(self.undone(routing)):
            info = routing.face(i)
            info.undone = undone
            info.outputs = {**{t: outputs[t][i] for t in info.active}, "shared": shared[i]}
            infos.append(info)
        return merged, infos
