"""Fitting unwarp's flow templates to training pairs in closed form, before any step trains them.

Each pair whose only warp is one of unwarp's types gives, at every pixel of that warp's frames, the
displacement that undoes it (the inverse of the simulator's flow) divided by the degree. A template
cell is the degree-weighted least-squares mean of those samples, spread over the cells by the same
bilinear weights that read the template back, and shrunk toward zero (the identity) where few
samples fall.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..models import Unwarp
from ..models.landmark_frames import frame_grid, splat_template
from ..models.unwarp import FRAMES
from ..retouch.flow import invert
from ..types import RETOUCH_TYPES
from .fit_pairs import fit_pairs

WARP_COLUMNS = [RETOUCH_TYPES.index(t) for t in FRAMES]


def inverse_flows(flows: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) simulator flows (retouched(x) = original(x + f(x))) -> (B, H, W, 2) inverse flows."""
    return torch.from_numpy(np.stack([invert(np.ascontiguousarray(f.permute(1, 2, 0).numpy())) for f in flows.cpu()]))


def one_warp(item: dict) -> bool:
    """Whether a pair was retouched by exactly one warp (and any colour or texture retouches)."""
    return bool(item["presence"][WARP_COLUMNS].sum() == 1)


@torch.no_grad()
def fit_unwarp(model: Unwarp, dataset: Dataset, count: int, batch_size: int = 16, ridge: float = 1.0, progress: bool = True) -> int:
    """Set `model`'s templates from `count` training pairs (items (epoch, i), epoch after epoch); returns how
    many pairs had exactly one warp on a face with landmarks."""
    cells = model.config.grid
    numerator = torch.zeros(len(model.frames), 2, cells, cells)
    denominator = torch.zeros(len(model.frames), 1, cells, cells)
    used = 0
    for items, landmarks in fit_pairs(dataset, count, one_warp, batch_size, "unwarp: fitting", progress):
        images = torch.stack([item["retouched"] for item in items])
        target = inverse_flows(torch.stack([item["flow"] for item in items]))
        degree = torch.stack([item["degree"] for item in items])
        used += len(items)
        for k, (t, frame) in enumerate(model.frames):
            grid, axes = frame_grid(landmarks, frame, *images.shape[-2:])
            d = degree[:, RETOUCH_TYPES.index(t)]
            # the target in frame units: its components along the frame's two pixel vectors, over their squared length
            local = torch.einsum("bhwd,bcd->bchw", target, axes) / (axes**2).sum(-1)[:, :, None, None]
            numerator[k] += splat_template(grid, local * d[:, None, None, None], cells)
            denominator[k] += splat_template(grid, (d**2)[:, None, None, None].expand(-1, 1, *images.shape[-2:]), cells)
    model.templates.copy_(numerator / (denominator + ridge))
    return used
