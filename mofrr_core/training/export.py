"""Assemble trained stages into release folders: diffusers pipeline layout, fp16 safetensors, SHA-256 manifest."""

from __future__ import annotations

from pathlib import Path

import torch

from ..configs import pipeline_components
from ..pipelines import FRRffusionPipeline, MoFRRPipeline
from ..weights import quiet_dtype_casts, write_manifest
from .recipe import Recipe
from .stages import load_best

PIPELINES = {"mofrr": MoFRRPipeline, "frrffusion": FRRffusionPipeline}


def export_weights(recipe: Recipe, out: str | Path, dtype: torch.dtype = torch.float16) -> list[Path]:
    """Write `<out>/mofrr`, `<out>/frrffusion` (pipelines) and `<out>/baseline` (a model) from a recipe's runs,
    then `<out>/SHA256SUMS`, the manifest every load of these folders is verified against."""
    out = Path(out)
    written = []
    with quiet_dtype_casts():
        for method, cls in PIPELINES.items():
            models = {
                key: load_best(recipe.runs, component, retouch_type)
                for key, component, retouch_type in pipeline_components()
                if component in cls.components_used
            }
            pipe = cls(**models, **cls.config_options(recipe.config)).to(dtype=dtype)
            pipe.save_pretrained(out / method)
            written.append(out / method)
        baseline = load_best(recipe.runs, "baseline").to(dtype)
        baseline.save_pretrained(out / "baseline")
        written.append(out / "baseline")
    write_manifest(out)
    return written
