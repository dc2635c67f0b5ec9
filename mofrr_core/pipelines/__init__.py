"""Restoration pipelines (diffusers DiffusionPipelines): MoFRR and FRRffusion, with their results."""

from .frrffusion import FRRffusionPipeline
from .mofrr import MoFRRPipeline
from .result import FaceResult, RestorationResult

__all__ = ["FRRffusionPipeline", "FaceResult", "MoFRRPipeline", "RestorationResult"]
