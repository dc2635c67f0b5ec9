"""Paired data: landmark caching, the on-disk dataset builder, the on-the-fly training dataset and fixed pair folders."""

from .landmark_cache import LandmarkCache
from .pair_folder import PairFolder
from .pairs import RetouchPairs
from .synthesize import SynthesisReport, synthesize

__all__ = ["LandmarkCache", "PairFolder", "RetouchPairs", "SynthesisReport", "synthesize"]
