"""What each training stage builds, feeds, optimises and validates.

Every stage trains one model (see `Stage.key`, the component key the pipelines load it by).
Losses follow the method spec; restorers are validated by their PSNR gain over the input,
the router by its mean F1, degree estimators by their degree error.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..configs import build_model, model_class
from ..diffusion import training_step
from ..errors import MofrrError, WeightsError
from ..faces import crop_landmarks
from ..metrics import best_thresholds, detection_scores, psnr
from ..models import Merger
from ..models.base import Model
from ..models.landmark_frames import select_amounts
from ..models.ops import crop, pad_to_multiple, resize, to_signed, to_unit
from ..pipelines.mofrr import INVERSES
from ..types import RETOUCH_TYPES, check_type, level_to_degree
from ..wavelets import HaarPyramid
from ..weights import load_model
from .losses import focal_bce, photo_loss, total_variation
from .fit_pairs import item_batches
from .layout_fit import fit_layout_net
from .reader_fit import fit_reading_heads, freeze_reading_heads
from .unsmooth_fit import fit_unsmooth
from .unwarp_fit import fit_unwarp
from .recipe import PER_TYPE_STAGES, Recipe, StageSettings

Batch = dict[str, torch.Tensor]


def level_degrees(batch: Batch) -> torch.Tensor:
    """(B, 4) degrees the degree estimators are trained to give: the centre of each level's bin (0 if absent)."""
    return level_to_degree(batch["level"].float()).clamp_min(0)


def batch_landmarks(batch: Batch) -> torch.Tensor:
    """(B, 68, 2) landmarks of a batch's retouched crops: the simulator's, or for pairs from a folder dlib's."""
    if "retouched_landmarks" not in batch:
        batch["retouched_landmarks"] = crop_landmarks(batch["retouched"]).float()
    return batch["retouched_landmarks"]


def random_crop(batch: Batch, side: int | None, generator: torch.Generator) -> Batch:
    """The same random square crop (offsets on the 4-pixel wavelet grid) of every image in a batch; an image at
    1 / k of the batch's size (k dividing 4: a low-resolution copy) is cropped at the same place."""
    height, width = batch["original"].shape[-2:]
    if side is None or side >= min(height, width):
        return batch
    top, left = (4 * int(torch.randint(0, (n - side) // 4 + 1, (1,), generator=generator)) for n in (height, width))

    def cut(image: torch.Tensor) -> torch.Tensor:
        k = height // image.shape[-2]
        return image[..., top // k : (top + side) // k, left // k : (left + side) // k]

    return {k: cut(v) if v.ndim == 4 else v for k, v in batch.items()}


def gain(restored: torch.Tensor, retouched: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR gain (dB) of `restored` over `retouched`, at the size of `restored`."""
    size = restored.shape[-2:]
    target = resize(original, size)
    return psnr(restored, target) - psnr(resize(retouched, size), target)


class Stage:
    """A stage: `component`, its data `kind`, default loss weights; subclasses define the losses."""

    component = ""
    kind = "any"
    crops = True
    loss_weights: dict[str, float] = {}
    score_name = "psnr_gain"

    def __init__(self, recipe: Recipe, settings: StageSettings, retouch_type: str | None = None):
        self.recipe, self.settings = recipe, settings
        self.retouch_type = check_type(retouch_type) if retouch_type else None
        self.weights = {**self.loss_weights, **settings.loss_weights}

    @property
    def key(self) -> str:
        return f"{self.component}_{self.retouch_type}" if self.retouch_type else self.component

    @property
    def type_index(self) -> int:
        return RETOUCH_TYPES.index(self.retouch_type)

    def build(self) -> Model:
        """The model to train: fresh in the recipe's configuration, or with `init` a saved one to fine-tune;
        `model` settings replace configuration values of either (what they add starts fresh)."""
        cls, overrides = model_class(self.component), self.settings.model
        unknown = sorted(set(overrides) - set(inspect.signature(cls.__init__).parameters))
        if unknown:
            raise MofrrError(f"recipe: model setting(s) {', '.join(unknown)} of {self.key} are not {cls.__name__} configuration values")
        if not self.settings.init:
            extra = {"retouch_type": self.retouch_type} if self.retouch_type else {}
            return build_model(self.component, self.recipe.config, **extra, **overrides)
        saved = load_model(self.settings.init, cls)
        if not overrides:
            return saved
        model = cls.from_config(saved.config, **overrides)
        unexpected = model.load_state_dict(saved.state_dict(), strict=False).unexpected_keys
        if unexpected:
            raise MofrrError(f"recipe: model settings {overrides} of {self.key} would drop weights of {self.settings.init} ({unexpected[0]}, ...)")
        return model

    def prepare(self, model: Model, device: torch.device) -> None:
        """Load what the stage needs besides `model`, the one it trains (frozen models), once."""

    def start(self, model: Model, train: Dataset, fresh: bool, progress: bool = True) -> None:
        """What the stage does to `model` with its training data before the first step (`fresh`) or on resuming."""

    def train_batch(self, batch: Batch, generator: torch.Generator) -> Batch:
        return random_crop(batch, self.settings.crop if self.crops else None, generator)

    def losses(self, model: Model, batch: Batch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def calibrate(self, model: Model) -> None:
        """Adjust validated weights, from what the last `validate` found, before they are saved as best."""

    def restore(self, model: Model, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def validate(self, model: Model, batches: list[Batch], generator: torch.Generator) -> dict[str, float]:
        """Mean PSNR gain of the restored validation faces over their retouched input (first key = score)."""
        gains = [gain(self.restore(model, b, generator), b["retouched"], b["original"]) for b in batches]
        return {self.score_name: float(torch.cat(gains).mean())}


def _degree_l1(degrees: torch.Tensor, truth: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean absolute degree error where `weight` (presence) is 1."""
    return ((degrees - truth).abs() * weight).sum() / weight.sum().clamp_min(1)


class RouterStage(Stage):
    """The router: image heads on every type; with `shape_types` / `colour_types` / `texture_types`, its
    landmark / colour / texture head on those types too (landmarks found by dlib on each retouched crop, as the
    pipelines do)."""

    component, score_name, crops = "router", "mean_f1", False
    loss_weights = {"presence": 1.0, "degree": 1.0, "landmarks": 1.0}

    @staticmethod
    def _route(model, batch):
        """The router on a batch; dlib runs once per batch (validation batches come back every validation)."""
        if "landmarks" not in batch:
            batch["landmarks"] = model.find_landmarks(batch["retouched"])
        return model(batch["retouched"], landmarks=batch["landmarks"])

    def start(self, model, train, fresh, progress=True):
        """With `exact_fit`, the reading heads are fitted exactly to that many training faces, then frozen; with
        `layout_fit`, the colour head's face-layout CNN is trained on that many first, then frozen."""
        layout = model.colour_head.layout if model.colour_head is not None else None
        if self.settings.layout_fit and layout is not None:
            if fresh:
                types = [RETOUCH_TYPES[c] for c in model.colour_columns]
                fit_layout_net(layout, train, self.settings.layout_fit, types, self.settings.layout_epochs, seed=self.recipe.seed, progress=progress)
            layout.requires_grad_(False)
        if self.settings.exact_fit and model.uses_landmarks:
            if fresh:
                fit_reading_heads(model, train, self.settings.exact_fit, progress=progress)
            freeze_reading_heads(model)

    def losses(self, model, batch, generator):
        fitted = bool(self.settings.exact_fit)
        out = model(batch["retouched"]) if fitted else self._route(model, batch)
        present = batch["presence"]
        losses = {"presence": focal_bce(out.image_logits, present), "degree": _degree_l1(out.image_degrees, batch["degree"], present)}
        if model.uses_landmarks and not fitted:
            columns = model.reader_columns
            read = present[:, columns] * out.read[:, columns]
            losses["landmarks"] = focal_bce(out.logits[:, columns], present[:, columns]) + _degree_l1(
                out.degrees[:, columns], batch["degree"][:, columns], read
            )
        return losses

    @torch.no_grad()
    def validate(self, model, batches, generator):
        """F1 per type at the presence thresholds that maximise it on these faces (kept for `calibrate`)."""
        probabilities = torch.cat([self._route(model, b).probabilities for b in batches])
        truth = torch.cat([b["presence"] for b in batches])
        self.thresholds = best_thresholds(probabilities, truth)
        f1 = detection_scores(probabilities.cpu() >= self.thresholds, truth.cpu())["f1"]
        return {
            "mean_f1": float(f1.mean()),
            **{f"f1_{t}": float(v) for t, v in zip(RETOUCH_TYPES, f1)},
            **{f"threshold_{t}": float(v) for t, v in zip(RETOUCH_TYPES, self.thresholds)},
        }

    def calibrate(self, model):
        model.move_thresholds(self.thresholds.tolist())


class DegreeStage(Stage):
    component, score_name, crops = "degree", "neg_degree_mae", False
    loss_weights = {"level": 1.0}

    @property
    def kind(self):
        return self.retouch_type

    def losses(self, model, batch, generator):
        return {"level": F.cross_entropy(model(batch["retouched"]).logits, batch["level"][:, self.type_index] - 1)}

    @torch.no_grad()
    def validate(self, model, batches, generator):
        errors = torch.cat([(model(b["retouched"]).degree - b["degree"][:, self.type_index]).abs() for b in batches])
        return {"neg_degree_mae": -float(errors.mean())}


class InverseStage(Stage):
    """A model that undoes retouches along landmark frames (unwarp, unsmooth): with `exact_fit`, its templates
    are fitted in closed form to that many training pairs first; then trained on the L1 error of the crops
    restored at their true degrees, which pairs without a recorded flow can give too."""

    crops = False
    loss_weights = {"photo": 1.0}
    fit = None

    def start(self, model, train, fresh, progress=True):
        if self.settings.exact_fit and fresh:
            type(self).fit(model, train, self.settings.exact_fit, progress=progress)

    def restore(self, model, batch, generator):
        amounts = select_amounts(model, batch["degree"] * batch["presence"], routed_only=False)
        return model(batch["retouched"], batch_landmarks(batch), amounts)

    def losses(self, model, batch, generator):
        return {"photo": F.l1_loss(self.restore(model, batch, generator), batch["original"])}


class UnwarpStage(InverseStage):
    component, fit = "unwarp", staticmethod(fit_unwarp)


class UnsmoothStage(InverseStage):
    component, kind, fit = "unsmooth", "smoothing", staticmethod(fit_unsmooth)


class ExpertStage(Stage):
    """A WaveFRR expert on its own retouch type; degrees are the level centres the estimators learn."""

    component = "wavefrr"
    loss_weights = {"noise": 1.0, "frequency": 0.1, "tv": 0.01, "photo": 1.0, "idem": 0.1}

    @property
    def kind(self):
        return self.retouch_type

    def losses(self, model, batch, generator):
        retouched, original = batch["retouched"], batch["original"]
        cond = model.condition(retouched, level_degrees(batch)[:, self.type_index])
        clean = model.wavelets.split(pad_to_multiple(to_signed(original), 4))
        priors = []

        def denoise(x_t, t, c):
            out = model(x_t, t, c)
            priors.append(out.prior)
            return out.prediction

        step = training_step(denoise, clean.ll_ll, cond, model.scheduler(), generator)
        level2, level1 = model.refine_bands(step.x0_estimate, cond)
        image = crop(to_unit(model.wavelets.merge(step.x0_estimate, level2, level1)), cond.size)
        return {
            "noise": F.mse_loss(step.prediction, step.target),
            "frequency": F.mse_loss(level2, clean.level2) + F.mse_loss(level1, clean.level1),
            "tv": total_variation(level2) + total_variation(level1),
            "photo": photo_loss(image, original),
            "idem": F.mse_loss(priors[0], clean.ll_ll - cond.bands.ll_ll),
        }

    def restore(self, model, batch, generator):
        degree = level_degrees(batch)[:, self.type_index]
        return model.restore(batch["retouched"], degree, steps=self.settings.val_steps, generator=generator)


class PixelDiffusionStage(Stage):
    """Shared expert and FMAR: pixel-space conditional diffusion at their working size, whole faces. With a
    colour condition, its standardisation is measured on `exact_fit` (default 256) training faces first."""

    crops = False
    loss_weights = {"noise": 1.0, "photo": 1.0}

    def start(self, model, train, fresh, progress=True):
        if model.colour is not None and not model.colour.fitted:
            count = self.settings.exact_fit or 256
            features = []
            for items in item_batches(train, count, 32, "colour condition: measuring", progress):
                measured, found = model.colour.measure(torch.stack([item["retouched"] for item in items]))
                features.append(measured[found])
            features = torch.cat(features)
            if len(features) < 2:
                raise MofrrError(f"{self.key}: dlib found a face in {len(features)} of {count} training crops; the colour condition needs face crops of 128 px or more")
            model.colour.fit(features)

    def losses(self, model, batch, generator):
        retouched, original = batch["retouched"], batch["original"]
        cond = model.condition(retouched)
        target = to_signed(resize(original, cond.working.shape[-2:]))
        step = training_step(model.denoise, target, cond, model.scheduler(), generator)
        image = model.decode(step.x0_estimate, cond)
        return {"noise": F.mse_loss(step.prediction, step.target), "photo": photo_loss(image, resize(original, image.shape[-2:]))}

    def restore(self, model, batch, generator):
        return model.restore(batch["retouched"], steps=self.settings.val_steps, generator=generator)


class SharedExpertStage(PixelDiffusionStage):
    component = "shared_expert"


class FMARStage(PixelDiffusionStage):
    component = "fmar"


class HFDGStage(Stage):
    """HFDG taught on a low-resolution face guided by the retouched one: the clean face (FMAR's target), or with
    `coarse: fmar` the trained, frozen FMAR's restoration (`sample_steps` steps), what FRRffusion gives it."""

    component = "hfdg"
    loss_weights = {"l1": 1.0, "frequency": 0.5}

    def prepare(self, model, device):
        self.wavelets = HaarPyramid().to(device)
        self.fmar = load_best(self.recipe.runs, "fmar").to(device) if self.settings.coarse == "fmar" else None
        self.scale = model.config.upscale

    def train_batch(self, batch, generator):
        return super().train_batch({**batch, "low": self._low(batch, generator)}, generator)

    @torch.no_grad()
    def _low(self, batch, generator):
        height, width = batch["retouched"].shape[-2:]
        size = (height // self.scale, width // self.scale)
        if self.fmar is None:
            return resize(batch["original"], size)
        return self.fmar.restore(batch["retouched"], size, steps=self.settings.sample_steps, generator=generator)

    def losses(self, model, batch, generator):
        out = model(batch["low"], batch["retouched"])
        _, high_out = self.wavelets.split_level(to_signed(out))
        _, high_ref = self.wavelets.split_level(to_signed(batch["original"]))
        return {"l1": F.l1_loss(out, batch["original"]), "frequency": F.l1_loss(high_out, high_ref)}

    def restore(self, model, batch, generator):
        return model(self._low(batch, generator), batch["retouched"])


class BaselineStage(Stage):
    component = "baseline"
    loss_weights = {"l1": 1.0}

    def losses(self, model, batch, generator):
        return {"l1": F.l1_loss(model(batch["retouched"]), batch["original"])}

    def restore(self, model, batch, generator):
        return model(batch["retouched"])


class MergerStage(Stage):
    """The merger on what the pipeline gives it, from the trained, frozen models: the crop after unsmooth and
    unwarp, and the experts' outputs on it, for the retouch types present and, with chance `false_routing`
    each, for absent ones at a random degree (the router's false positives)."""

    component, crops = "merger", False
    loss_weights = {"photo": 1.0}

    def prepare(self, model, device):
        runs = self.recipe.runs
        self.experts = {t: load_best(runs, "wavefrr", t).to(device) for t in RETOUCH_TYPES}
        self.shared = load_best(runs, "shared_expert").to(device)
        self.inverses = [load_best(runs, key).to(device) for key in INVERSES]

    @torch.no_grad()
    def merger_inputs(self, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(the crops after unsmooth and unwarp, experts' residuals (B, 4, 3, H, W), shared expert's residual)."""
        x, steps = batch["retouched"], self.settings.sample_steps
        present = batch["presence"].bool()
        false = ~present & (torch.rand(present.shape, generator=generator, device=generator.device).to(x.device) < self.settings.false_routing)
        random_degrees = torch.rand(present.shape, generator=generator, device=generator.device).to(x.device)
        degrees, outputs = torch.where(false, random_degrees, level_degrees(batch)), {}
        for inverse in self.inverses:
            x = inverse(x, batch_landmarks(batch), select_amounts(inverse, degrees * (present | false), routed_only=True))
        for j, retouch_type in enumerate(RETOUCH_TYPES):
            rows = (present[:, j] | false[:, j]).nonzero().flatten()
            if len(rows):
                outputs[retouch_type] = x.clone()
                outputs[retouch_type][rows] = self.experts[retouch_type].restore(x[rows], degrees[rows, j], steps=steps, generator=generator)
        shared = self.shared.restore(x, steps=steps, generator=generator)
        return x, Merger.stack_residuals(x, outputs), shared - x

    def restore(self, model, batch, generator):
        return model(*self.merger_inputs(batch, generator))

    def losses(self, model, batch, generator):
        return {"photo": photo_loss(self.restore(model, batch, generator), batch["original"])}


STAGE_CLASSES: dict[str, type[Stage]] = {
    "router": RouterStage,
    "degree": DegreeStage,
    "expert": ExpertStage,
    "shared_expert": SharedExpertStage,
    "merger": MergerStage,
    "unwarp": UnwarpStage,
    "unsmooth": UnsmoothStage,
    "fmar": FMARStage,
    "hfdg": HFDGStage,
    "baseline": BaselineStage,
}


def best_folder(runs: Path, component: str, retouch_type: str | None = None) -> Path:
    """Where a stage's selected (best validation score, EMA) weights are saved."""
    return Path(runs) / (f"{component}_{retouch_type}" if retouch_type else component) / "best"


def load_best(runs: Path, component: str, retouch_type: str | None = None) -> Model:
    """A trained stage's best weights, in inference mode; a clear error when that stage has not run."""
    folder = best_folder(runs, component, retouch_type)
    if not (folder / "config.json").is_file():
        name = f"{component} ({retouch_type})" if retouch_type else component
        raise WeightsError(f"{folder}: no trained {name} yet; train that stage first")
    model = load_model(folder, model_class(component))
    model.requires_grad_(False)
    return model


def make_stages(recipe: Recipe, name: str, retouch_type: str | None = None) -> list[Stage]:
    """The stage(s) a `mofrr train NAME` command runs: per-type stages expand to every type unless given one."""
    cls = STAGE_CLASSES[name]
    if name in PER_TYPE_STAGES:
        return [cls(recipe, recipe.stage(name, t), t) for t in ([retouch_type] if retouch_type else RETOUCH_TYPES)]
    return [cls(recipe, recipe.stage(name))]
