"""The training pairs a fit reads before a stage's first step: the first N items in batches, and for unwarp's and
unsmooth's closed-form fits the chosen pairs, with landmarks."""

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


def item_batches(dataset: Dataset, count: int, batch_size: int, desc: str = "", progress: bool = True) -> Iterator[list[dict]]:
    """The first `count` items (epoch, i), epoch after epoch, in batches of `batch_size` (tqdm over the batches)."""
    keys = [(k // len(dataset), k % len(dataset)) for k in range(count)]
    for start in tqdm(range(0, count, batch_size), desc=desc, unit="batch", disable=not progress):
        yield [dataset[key] for key in keys[start : start + batch_size]]


def fit_pairs(dataset: Dataset, count: int, keep: Callable[[dict], bool], batch_size: int, desc: str,
              progress: bool = True) -> Iterator[tuple[list[dict], torch.Tensor]]:
    """Of the first `count` pairs (items (epoch, i), epoch after epoch), batches of those `keep` accepts and whose
    face has landmarks: (the items, their (B, 68, 2) landmarks)."""
    for batch in item_batches(dataset, count, batch_size, desc, progress):
        items = [item for item in batch if keep(item)]
        if not items:
            continue
        landmarks = item_landmarks(items)
        found = torch.isfinite(landmarks).flatten(1).all(dim=1)
        if found.any():
            yield [item for item, f in zip(items, found.tolist()) if f], landmarks[found]
