"""The training pairs a closed-form fit reads (unwarp's and unsmooth's): chosen pairs, with landmarks, in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..faces import crop_landmarks


def item_landmarks(items: list[dict]) -> torch.Tensor:
    """(B, 68, 2) landmarks of the retouched crops: the simulator's (moved by its warps) where the items
    carry them, else dlib's (NaN where it finds no face)."""
    if all("retouched_landmarks" in item for item in items):
        return torch.stack([item["retouched_landmarks"] for item in items])
    return crop_landmarks(torch.stack([item["retouched"] for item in items])).float()


def fit_pairs(dataset: Dataset, count: int, keep: Callable[[dict], bool], batch_size: int, desc: str,
              progress: bool = True) -> Iterator[tuple[list[dict], torch.Tensor]]:
    """Of the first `count` pairs (items (epoch, i), epoch after epoch), batches of those `keep` accepts and whose
    face has landmarks: (the items, their (B, 68, 2) landmarks)."""
    keys = [(k // len(dataset), k % len(dataset)) for k in range(count)]
    for start in tqdm(range(0, count, batch_size), desc=desc, unit="batch", disable=not progress):
        items = [item for item in (dataset[key] for key in keys[start : start + batch_size]) if keep(item)]
        if not items:
            continue
        landmarks = item_landmarks(items)
        found = torch.isfinite(landmarks).flatten(1).all(dim=1)
        if found.any():
            yield [item for item, f in zip(items, found.tolist()) if f], landmarks[found]
