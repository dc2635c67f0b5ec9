"""The retouch simulator: beautify-app operations with exact labels, our source of training pairs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..types import RETOUCH_TYPES, check_type, strength_to_level
from .eyes import EyeEnlargement
from .flow import compose, move_points
from .op import RetouchOp
from .slimming import FaceSlimming
from .smoothing import Smoothing
from .whitening import Whitening

OPS: dict[str, RetouchOp] = {op.name: op for op in (Whitening(), Smoothing(), FaceSlimming(), EyeEnlargement())}

# what `random_ops` draws besides a single named type
KINDS = ("single", "mixed", "any", "evaluation")

API_ORDERS = (
    ("smoothing", "whitening", "face_slimming", "eye_enlargement"),
    ("whitening", "smoothing", "eye_enlargement", "face_slimming"),
    ("face_slimming", "eye_enlargement", "smoothing", "whitening"),
    ("smoothing", "face_slimming", "whitening", "eye_enlargement"),
)


@dataclass
class OpRecord:
    """One applied operation: its slider strength, degree level and hidden parameters."""

    op: str
    strength: float
    params: dict

    @property
    def level(self) -> int:
        return strength_to_level(self.strength)

    def to_dict(self) -> dict:
        return {"op": self.op, "strength": self.strength, "level": self.level, "degree": self.strength / 100.0, "params": self.params}


@dataclass
class RetouchRecord:
    """What was done to an image: the ops in order and the total flow of the warps (None if no warp)."""

    ops: list[OpRecord] = field(default_factory=list)
    flow: np.ndarray | None = None
    landmarks: np.ndarray | None = None

    def strengths(self) -> dict[str, float]:
        """Strength per retouch type in the fixed order (0 where not applied)."""
        out = dict.fromkeys(RETOUCH_TYPES, 0.0)
        out.update({r.op: r.strength for r in self.ops})
        return out

    def levels(self) -> dict[str, int]:
        return {k: strength_to_level(v) for k, v in self.strengths().items()}

    def presence(self) -> list[int]:
        return [int(v > 0) for v in self.strengths().values()]

    def to_dict(self) -> dict:
        """JSON-ready summary; the flow is summarised by its largest displacement."""
        max_shift = 0.0 if self.flow is None else float(np.sqrt((self.flow**2).sum(-1)).max())
        return {
            "ops": [r.to_dict() for r in self.ops],
            "strengths": self.strengths(),
            "levels": self.levels(),
            "flow_max_px": max_shift,
        }


def _parse_ops(ops) -> list[tuple[str, float]]:
    items = list(ops.items()) if isinstance(ops, dict) else list(ops)
    for name, strength in items:
        check_type(name)
        if not 0 <= float(strength) <= 100:
            raise ValueError(f"strength of {name} must be in [0, 100], got {strength}")
    return [(name, float(strength)) for name, strength in items if float(strength) > 0]


def retouch(
    rgb: np.ndarray, landmarks: np.ndarray, ops, seed: int | np.random.Generator | None = None, params: dict | None = None
) -> tuple[np.ndarray, RetouchRecord]:
    """Apply ops in the given order: `ops` maps (or lists) retouch type -> strength in [0, 100].

    Landmarks follow the warps, so each op finds the face where the previous ops left it.
    `params` may fix the hidden parameters of some ops; the rest are drawn from `seed`.
    """
    rng = np.random.default_rng(seed)
    record = RetouchRecord()
    image, lm = rgb.astype(np.float32), landmarks.astype(np.float32)
    for name, strength in _parse_ops(ops):
        op = OPS[name]
        drawn = op.sample_params(rng)
        op_params = (params or {}).get(name, drawn)
        image, flow = op.apply(image, lm, strength, op_params)
        if flow is not None:
            lm = move_points(lm, flow)
            record.flow = flow if record.flow is None else compose(record.flow, flow)
        record.ops.append(OpRecord(name, strength, op_params))
    record.landmarks = lm
    return image, record


def random_ops(rng: np.random.Generator, kind: str = "mixed", low: float = 10.0, high: float = 100.0) -> list[tuple[str, float]]:
    """Draw an op list: `kind` is a retouch type, "single" (one random type), "mixed" (2-4 in an
    API order), "any" (single or mixed, even odds) or "evaluation" (single four times in five, as in
    the evaluation set: each type alone, and mixed, once per face)."""
    if kind in ("any", "evaluation"):
        kind = "single" if rng.random() < (0.5 if kind == "any" else 0.8) else "mixed"
    if kind == "mixed":
        order = API_ORDERS[rng.integers(len(API_ORDERS))]
        chosen = set(rng.choice(RETOUCH_TYPES, size=int(rng.integers(2, 5)), replace=False))
        names = [name for name in order if name in chosen]
    elif kind == "single":
        names = [str(rng.choice(RETOUCH_TYPES))]
    else:
        names = [check_type(kind)]
    return [(name, round(float(rng.uniform(low, high)), 1)) for name in names]


def random_retouch(rgb: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, kind: str = "mixed"):
    """Retouch with a random op list of `kind` (see `random_ops`), deterministic for the generator's state."""
    return retouch(rgb, landmarks, random_ops(rng, kind), rng)
