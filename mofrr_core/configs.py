"""Named model configurations and builders for every network of MoFRR and FRRffusion.

- `paper`: the reference sizes of the method spec (about 20.8 M parameters per WaveFRR UNet,
  124 M for FMAR, ...), epsilon prediction as in the papers.
- `lite`: small enough to train and run on two CPU cores (the whole set is about 17 M
  parameters, about 35 MB as fp16), "sample" prediction residual over the input so every
  restorer starts as the identity; no attention at 32 x 32 or larger on the intended sizes.
- `tiny`: random-init smoke-test sizes (milliseconds per call).
"""

import copy

import torch

from .models import FMAR, HFDG, DegreeEstimator, Merger, RegressionBaseline, Router, SharedExpert, Unsmooth, Unwarp, WaveFRRExpert
from .models.base import Model
from .types import RETOUCH_TYPES

MODEL_CLASSES: dict[str, type[Model]] = {
    "router": Router,
    "degree": DegreeEstimator,
    "wavefrr": WaveFRRExpert,
    "shared_expert": SharedExpert,
    "merger": Merger,
    "unwarp": Unwarp,
    "unsmooth": Unsmooth,
    "fmar": FMAR,
    "hfdg": HFDG,
}
# the pipelines' components; the regression baseline is only trained and evaluated against
COMPONENTS = tuple(MODEL_CLASSES)
MODEL_CLASSES["baseline"] = RegressionBaseline
PER_TYPE = ("degree", "wavefrr")


_UNET_FIELDS = ("block_out_channels", "layers_per_block", "attention_levels", "norm_num_groups", "attention_head_dim")


def _unet(*values) -> dict:
    """`build_unet` keywords from values in `_UNET_FIELDS` order (always with mid-block attention)."""
    return dict(zip(_UNET_FIELDS, values, strict=True), mid_attention=True)


_PAPER_PREDICTION = dict(prediction_type="epsilon", residual=False)
_RESIDUAL_PREDICTION = dict(prediction_type="sample", residual=True)

CONFIGS: dict[str, dict[str, dict]] = {
    "paper": {
        "router": dict(stage_depths=(3, 4, 6, 3), base_width=32, mam_width=64, pool_sizes=(8, 4, 2, 1), fusion_width=512),
        "degree": dict(stage_depths=(3, 4, 6, 3), base_width=64, num_levels=5),
        "wavefrr": dict(
            unet=_unet((64, 128, 192, 256), 2, (2,), 32, 8), idem_hidden=28, hfcam_channels=64, **_PAPER_PREDICTION
        ),
        "shared_expert": dict(unet=_unet((64, 128, 192, 256), 2, (2,), 32, 8), sample_size=256, **_PAPER_PREDICTION),
        "merger": dict(block_out_channels=(64, 128, 256, 512, 1024), norm_num_groups=32),
        "unwarp": dict(grid=48),
        "unsmooth": dict(grid=32),
        "fmar": dict(
            unet=_unet((128, 128, 256, 256, 512, 512), 2, (4, 5), 32, 64), sample_size=256, **_PAPER_PREDICTION
        ),
        "hfdg": dict(
            upscale=4, embed_dim=180, depths=(6, 6, 6, 6, 6, 6), num_heads=6, window_size=16, mlp_ratio=2.0,
            compress_ratio=3, squeeze_factor=30, upsampler_channels=64,
        ),
        "baseline": dict(block_out_channels=(64, 128, 256, 512, 1024), norm_num_groups=32),
    },
    "lite": {
        "router": dict(stage_depths=(2, 2, 2, 2), base_width=16, mam_width=32, pool_sizes=(8, 4, 2, 1), fusion_width=256, highpass_gain=8.0,
                       colour_types=("whitening",), texture_types=("smoothing", "face_slimming", "eye_enlargement"),
                       colour_layout=dict(width=16, members=3)),
        "degree": dict(stage_depths=(1, 1, 1, 1), base_width=16, num_levels=5),
        "wavefrr": dict(
            unet=_unet((8, 16, 32, 64), 1, (2,), 4, 32), idem_hidden=28, hfcam_channels=32, **_RESIDUAL_PREDICTION
        ),
        "shared_expert": dict(unet=_unet((16, 32, 64, 128), 1, (3,), 8, 32), sample_size=128, **_RESIDUAL_PREDICTION),
        "merger": dict(block_out_channels=(16, 32, 64, 128, 256), norm_num_groups=8),
        "unwarp": dict(grid=48),
        "unsmooth": dict(grid=32),
        "fmar": dict(unet=_unet((32, 64, 128, 128), 1, (2, 3), 8, 32), sample_size=64, colour_condition=True, **_RESIDUAL_PREDICTION),
        "hfdg": dict(
            upscale=4, embed_dim=48, depths=(4, 4, 4), num_heads=3, window_size=8, mlp_ratio=2.0,
            compress_ratio=3, squeeze_factor=16, upsampler_channels=32, base="transfer",
        ),
        "baseline": dict(block_out_channels=(16, 32, 64, 128, 256), norm_num_groups=8),
    },
    "tiny": {
        "router": dict(stage_depths=(1, 1, 1, 1), base_width=4, mam_width=4, pool_sizes=(8, 4, 2, 1), fusion_width=16),
        "degree": dict(stage_depths=(1, 1, 1, 1), base_width=4, num_levels=5),
        "wavefrr": dict(unet=_unet((8, 16), 1, (1,), 4, 8), idem_hidden=4, hfcam_channels=8, **_RESIDUAL_PREDICTION),
        "shared_expert": dict(unet=_unet((8, 16), 1, (1,), 4, 8), sample_size=32, **_RESIDUAL_PREDICTION),
        "merger": dict(block_out_channels=(8, 16, 32), norm_num_groups=4),
        "unwarp": dict(grid=8),
        "unsmooth": dict(grid=8, knots=2),
        "fmar": dict(unet=_unet((8, 16), 1, (1,), 4, 8), sample_size=32, **_RESIDUAL_PREDICTION),
        "hfdg": dict(
            upscale=4, embed_dim=8, depths=(2,), num_heads=2, window_size=4, mlp_ratio=2.0,
            compress_ratio=2, squeeze_factor=4, upsampler_channels=8,
        ),
        "baseline": dict(block_out_channels=(8, 16, 32), norm_num_groups=4),
    },
}

# Parameter counts the spec gives for the reference models: (component, submodule or "") -> count.
REFERENCE_PARAMETERS = {
    ("degree", ""): 23.5e6,
    ("wavefrr", "denoiser"): 20.8e6,
    ("wavefrr", "idem"): 1.2e3,
    ("wavefrr", "hfcam_level1"): 0.6e6,
    ("merger", ""): 31e6,
    ("fmar", ""): 124e6,
    ("hfdg", ""): 20.8e6,
}


def model_class(component: str) -> type[Model]:
    """The model class of a component name."""
    if component not in MODEL_CLASSES:
        raise ValueError(f"unknown component {component!r}; choose one of {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[component]


def model_config(component: str, name: str) -> dict:
    """A copy of the constructor keywords of `component` in the named configuration."""
    if name not in CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; choose one of {', '.join(CONFIGS)}")
    model_class(component)
    return copy.deepcopy(CONFIGS[name][component])


def build_model(component: str, name: str = "lite", **overrides) -> Model:
    """A randomly initialised model of the named configuration; `overrides` replace keywords.

    Per-type components ("degree", "wavefrr") take `retouch_type=...`.
    """
    return model_class(component)(**{**model_config(component, name), **overrides})


def pipeline_components() -> list[tuple[str, str, str | None]]:
    """(key, component, retouch type or None) for every model of a full set, in a fixed order.

    Keys name the sub-folders a set is saved in, e.g. "wavefrr_whitening".
    """
    entries = []
    for component in COMPONENTS:
        if component in PER_TYPE:
            entries += [(f"{component}_{t}", component, t) for t in RETOUCH_TYPES]
        else:
            entries.append((component, component, None))
    return entries


def build_all(name: str = "lite") -> dict[str, Model]:
    """Every model of both methods (1 router, 4 degree estimators, 4 experts, ...) by key."""
    return {
        key: build_model(component, name, **({"retouch_type": t} if t else {}))
        for key, component, t in pipeline_components()
    }


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_counts(name: str) -> dict[tuple[str, str], int]:
    """Parameters of every component (and of the submodules with a reference figure), built on `meta`.

    Keys are (component, submodule or ""); per-type components are counted once.
    """
    counts = {}
    with torch.device("meta"):
        for component in COMPONENTS:
            model = build_model(component, name)
            counts[(component, "")] = _count(model)
            for (ref_component, part), _ in REFERENCE_PARAMETERS.items():
                if ref_component == component and part:
                    counts[(component, part)] = _count(getattr(model, part))
    return counts


def fp16_megabytes(name: str) -> float:
    """Size in MB (1e6 bytes) of the tensors of a whole set saved as fp16."""
    with torch.device("meta"):
        models = build_all(name).values()
        return 2 * sum(t.numel() for model in models for t in model.state_dict().values()) / 1e6
