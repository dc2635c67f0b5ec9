"""Retouch simulator: what beautify apps do to faces, with exact labels."""

from .flow import apply_flow, compose, invert, jacobian_determinant, move_points
from .simulator import OPS, OpRecord, RetouchRecord, random_ops, random_retouch, retouch
from .skin import skin_mask

__all__ = [
    "OPS",
    "OpRecord",
    "RetouchRecord",
    "apply_flow",
    "compose",
    "invert",
    "jacobian_determinant",
    "move_points",
    "random_ops",
    "random_retouch",
    "retouch",
    "skin_mask",
]
