"""Paired data: landmark caching, the on-disk dataset builder and the on-the-fly training dataset."""

from .landmark_cache import LandmarkCache
from .pairs import RetouchPairs
from .synthesize import SynthesisReport, synthesize

__all__ = ["LandmarkCache", "RetouchPairs", "SynthesisReport", "synthesize"]
