"""Assemble trained stages into release folders: diffusers pipeline layout, fp16 safetensors, SHA-256 manifest;
the router's thresholds calibrated on the recipe's calibration photos, if it names any."""

from __future__ import annotations

from pathlib import Path

import torch

from ..calibration import CALIBRATION_FILE, calibrate_router, calibration_set
from ..configs import pipeline_components
from ..pipelines import FRRffusionPipeline, MoFRRPipeline
from ..weights import quiet_dtype_casts, write_manifest
from .recipe import Recipe
from .stages import load_best

PIPELINES = {"mofrr": MoFRRPipeline, "frrffusion": FRRffusionPipeline}


def export_weights(recipe: Recipe, out: str | Path, dtype: torch.dtype = torch.float16, progress: bool = True) -> list[Path]:
    """Write `<out>/mofrr`, `<out>/frrffusion` (pipelines) and `<out>/baseline` (a model) from a recipe's runs,
    then `<out>/SHA256SUMS`, the manifest every load of these folders is verified against. With the recipe's
    `calibration`, the router's thresholds are calibrated first (in full precision) and what that did is
    written to `<out>/mofrr/calibration.json` (`Calibration`)."""
    out = Path(out)
    written = []
    calibration = None
    if recipe.calibration is not None:
        settings = recipe.calibration
        router = load_best(recipe.runs, "router")
        data = calibration_set(settings.faces, settings.seeds, size=recipe.size, progress=progress)
        calibration = calibrate_router(router, data, settings.types, progress=progress)
    with quiet_dtype_casts():
        for method, cls in PIPELINES.items():
            models = {
                key: router if key == "router" and calibration is not None else load_best(recipe.runs, component, retouch_type)
                for key, component, retouch_type in pipeline_components()
                if component in cls.components_used
            }
            pipe = cls(**models, **cls.config_options(recipe.config)).to(dtype=dtype)
            pipe.save_pretrained(out / method)
            if method == "mofrr" and calibration is not None:
                calibration.save(out / method / CALIBRATION_FILE)
            written.append(out / method)
        baseline = load_best(recipe.runs, "baseline").to(dtype)
        baseline.save_pretrained(out / "baseline")
        written.append(out / "baseline")
    write_manifest(out)
    return written
