"""The networks of MoFRR (router, degree estimators, unwarp, unsmooth, WaveFRR experts, shared expert, merger)
and FRRffusion (FMAR, HFDG), as diffusers ModelMixin/ConfigMixin models."""

from .baseline import RegressionBaseline
from .degree import DegreeEstimator, DegreeOutput
from .fmar import FMAR
from .hfdg import HFDG
from .merger import Merger
from .router import Router, RouterOutput
from .shared_expert import SharedExpert
from .unsmooth import Unsmooth
from .unwarp import Unwarp
from .wavefrr import WaveCondition, WaveFRRExpert, WaveFRROutput

__all__ = [
    "FMAR",
    "HFDG",
    "DegreeEstimator",
    "DegreeOutput",
    "Merger",
    "RegressionBaseline",
    "Router",
    "RouterOutput",
    "SharedExpert",
    "Unsmooth",
    "Unwarp",
    "WaveCondition",
    "WaveFRRExpert",
    "WaveFRROutput",
]
