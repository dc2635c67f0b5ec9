"""Training recipes: one YAML file says what to train on, how long, and where runs go.

Top-level keys: `config` (model configuration name), `faces` (a folder or a list of photo
folders, retouched on the fly by the simulator), `pairs` (instead of `faces`: a folder of
fixed retouched/original pairs with a labels.jsonl, see `PairFolder`), `size` (aligned crop
side), `out` (run folder), `seed`, `val_fraction` (photos held out for validation, split by photo), `mixed_precision` (accelerate's "no", "fp16" or "bf16"),
`defaults` (stage settings shared by every stage), `stages` (per-stage overrides; a key
`<stage>.<retouch type>`, e.g. `expert.face_slimming`, overrides one type of a per-type stage),
`order` (the stages `mofrr train all` runs) and `calibration` (the exported router's thresholds, set on clean
photos like the users': `CalibrationSettings`). Relative paths are relative to the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import MofrrError
from ..retouch.simulator import KINDS
from ..types import RETOUCH_TYPES

STAGES = ("router", "degree", "unwarp", "unsmooth", "expert", "shared_expert", "merger", "fmar", "hfdg", "baseline")
PER_TYPE_STAGES = ("degree", "expert")
COARSE_INPUTS = ("original", "fmar")


@dataclass
class StageSettings:
    """How one stage trains. `crop`: side of random training crops (None: whole aligned faces);
    `val_steps`: DDIM steps in validation; `sample_steps`: steps of the frozen models that make
    a stage's inputs (the merger's experts, HFDG's FMAR); `coarse`: HFDG's low-resolution input,
    "original" (the clean face) or "fmar" (the trained FMAR's restoration); `false_routing`: the
    merger's chance of also getting, per absent retouch type, that type's expert residual (a
    router's false positive), so it learns to hold back residuals that do not fit; `augment`:
    chance scale of the capture augmentation of training originals (`capture_augment`; 0: none,
    validation never); `deliver`: odds that a retouched training face is saved as JPEG after the retouch, as
    apps deliver it (validation never); `val_kind`: the retouch kind of the validation faces (default: the stage's own; the
    router calibrates its thresholds on them, e.g. "evaluation"); `exact_fit`: the parts a stage can fit in closed
    form are fitted to that many training faces before the first step: the router's reading heads (L-BFGS,
    then kept; 0: they train with the rest), unwarp's and unsmooth's templates (least squares, then trained on), a
    colour-conditioned FMAR's or shared expert's colour standardisation (default 256); `layout_fit`: the router's
    face-layout CNN (`colour_layout` in its configuration) is trained on that many training faces before the
    first step (`layout_epochs` epochs), then kept; `faces`: this stage's photo
    folders instead of the recipe's; `init`: a saved model folder (e.g. a bundled component) to fine-tune instead of
    starting fresh; `model`: configuration values that replace the recipe configuration's (or the `init` model's),
    e.g. `{colour_condition: true}`: parameters they add start as in a fresh model; `loss_weights` override the
    stage's default weights by loss name."""

    steps: int = 300
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 20
    crop: int | None = None
    ema_decay: float = 0.999
    val_every: int = 100
    val_faces: int = 16
    val_steps: int = 4
    sample_steps: int = 2
    coarse: str = "original"
    false_routing: float = 0.0
    augment: float = 0.0
    deliver: float = 0.0
    val_kind: str | None = None
    exact_fit: int = 0
    layout_fit: int = 0
    layout_epochs: int = 8
    faces: list[str] | None = None
    init: str | None = None
    model: dict = field(default_factory=dict)
    checkpoint_every: int = 50
    log_every: int = 10
    num_workers: int = 1
    loss_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class CalibrationSettings:
    """The exported router's presence thresholds of `types` (default: all four), calibrated on the photos of the
    `faces` folders retouched five ways per seed of `seeds` as the evaluation set is (`mofrr_core.calibration`)."""

    faces: list[str]
    seeds: list[int] = field(default_factory=lambda: [1])
    types: list[str] | None = None


@dataclass
class Recipe:
    """A parsed recipe file; `stage(name)` gives a stage's merged settings."""

    config: str = "lite"
    faces: list[str] = field(default_factory=list)
    pairs: str | None = None
    size: int = 256
    out: str = "runs/lite"
    seed: int = 0
    val_fraction: float = 0.1
    mixed_precision: str = "no"
    defaults: dict = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)
    order: list[str] = field(default_factory=lambda: list(STAGES))
    calibration: CalibrationSettings | None = None

    def stage(self, name: str, retouch_type: str | None = None) -> StageSettings:
        known = {f.name for f in fields(StageSettings)}
        merged = {**self.defaults, **self.stages.get(name, {}), **self.stages.get(f"{name}.{retouch_type}", {})}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise MofrrError(f"recipe: unknown stage setting(s) {', '.join(unknown)} for {name}; known: {', '.join(sorted(known))}")
        if merged.get("coarse", "original") not in COARSE_INPUTS:
            raise MofrrError(f"recipe: coarse of {name} must be one of {', '.join(COARSE_INPUTS)}, got {merged['coarse']!r}")
        if merged.get("val_kind") not in (None, *KINDS, *RETOUCH_TYPES):
            raise MofrrError(f"recipe: val_kind of {name} must be a retouch type or one of {', '.join(KINDS)}, got {merged['val_kind']!r}")
        return StageSettings(**merged)

    @property
    def runs(self) -> Path:
        return Path(self.out)


def _stage_key(key: str) -> bool:
    """Whether a `stages` key names a stage, or a per-type stage and a retouch type."""
    name, _, retouch_type = key.partition(".")
    return name in STAGES and (not retouch_type or (name in PER_TYPE_STAGES and retouch_type in RETOUCH_TYPES))


def _calibration(path: Path, settings) -> CalibrationSettings:
    known = {f.name for f in fields(CalibrationSettings)}
    if not isinstance(settings, dict) or not settings.get("faces") or set(settings) - known:
        raise MofrrError(f"recipe {path}: calibration takes faces (folders of clean photos) and optionally seeds and types")
    faces = settings["faces"]
    types = settings.get("types")
    if types is not None and not set(types) <= set(RETOUCH_TYPES):
        raise MofrrError(f"recipe {path}: calibration types must be among {', '.join(RETOUCH_TYPES)}, got {types}")
    return CalibrationSettings(**{**settings, "faces": [faces] if isinstance(faces, str) else list(faces)})


def load_recipe(path: str | Path, **overrides) -> Recipe:
    """Read a recipe YAML file; keyword overrides (e.g. faces=..., out=...) replace top-level keys when not None
    (`faces` also replaces the stages' own folders)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MofrrError(f"cannot read recipe {path}: {exc}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    if overrides.get("faces") is not None:  # folders given on the command line replace every stage's too
        for settings in (data.get("stages") or {}).values():
            settings.pop("faces", None)
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise MofrrError(f"recipe {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if isinstance(data.get("faces"), str):
        data["faces"] = [data["faces"]]
    if data.get("calibration") is not None:
        data["calibration"] = _calibration(path, data["calibration"])
    recipe = Recipe(**data)
    bad = [s for s in recipe.order if s not in STAGES] + [s for s in recipe.stages if not _stage_key(s)]
    if bad:
        raise MofrrError(f"recipe {path}: unknown stage(s) {', '.join(bad)}; stages are {', '.join(STAGES)}")
    return recipe
