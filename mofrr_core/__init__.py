"""mofrr core: face pipeline, retouch simulator, models, pipelines and metrics for face retouching restoration."""

from .types import RETOUCH_TYPES, strength_to_level

__version__ = "0.1.0"
__all__ = ["RETOUCH_TYPES", "__version__", "strength_to_level"]
