"""Fitting unsmooth's gain templates to training pairs in closed form, before any step trains them.

Each pair retouched by smoothing alone gives, at every pixel of the face frame, the gain that turns
the detail left in the retouched crop into the original's (original - retouched = gain x detail).
A template cell at a degree knot is the least-squares gain over the samples near it, weighted by
the same bilinear weights (in the frame and between knots) that read the templates back, and shrunk
toward zero (the identity) where little detail falls.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..models import Unsmooth
from ..models.landmark_frames import frame_grid, splat_template
from ..models.unsmooth import FRAME
from ..types import RETOUCH_TYPES
from .fit_pairs import fit_pairs

SMOOTHING = RETOUCH_TYPES.index("smoothing")


def smoothing_alone(item: dict) -> bool:
    """Whether a pair was retouched by smoothing and nothing else."""
    return bool(item["presence"].sum() == 1 and item["presence"][SMOOTHING] == 1)


@torch.no_grad()
def fit_unsmooth(model: Unsmooth, dataset: Dataset, count: int, batch_size: int = 16, ridge: float = 0.01, progress: bool = True) -> int:
    """Set `model`'s templates from `count` training pairs (items (epoch, i), epoch after epoch); returns how
    many were retouched by smoothing alone on a face with landmarks."""
    knots, cells = model.config.knots, model.config.grid
    numerator = torch.zeros(knots, 1, cells, cells)
    denominator = torch.zeros(knots, 1, cells, cells)
    used = 0
    for items, landmarks in fit_pairs(dataset, count, smoothing_alone, batch_size, "unsmooth: fitting", progress):
        retouched = torch.stack([item["retouched"] for item in items])
        original = torch.stack([item["original"] for item in items])
        degree = torch.stack([item["degree"][SMOOTHING] for item in items])
        used += len(items)
        detail = model.detail(retouched)
        product = (detail * (original - retouched)).sum(1, keepdim=True)
        energy = (detail**2).sum(1, keepdim=True)
        grid, _ = frame_grid(landmarks, FRAME, *retouched.shape[-2:])
        weights = model.knot_weights(degree)
        for k in range(knots):
            w = weights[:, k, None, None, None]
            numerator[k] += splat_template(grid, w * product, cells)
            denominator[k] += splat_template(grid, w * energy, cells)
    shrink = ridge * denominator.mean(dim=(1, 2, 3), keepdim=True)
    model.templates.copy_(numerator / (denominator + shrink).clamp_min(1e-12))
    return used
