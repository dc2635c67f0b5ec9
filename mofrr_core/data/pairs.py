"""A torch Dataset that synthesizes fresh retouched/original pairs every epoch from cached landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..align import align_face
from ..imageio import list_images, load_photo, to_uint8
from ..retouch import random_retouch
from ..types import RETOUCH_TYPES
from .augment import capture_augment, deliver
from .landmark_cache import LandmarkCache
from .synthesize import split_of


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class RetouchPairs(Dataset):
    """Aligned faces from photo folders, each retouched anew per (seed, epoch, index).

    `faces`: one folder or a list of folders. `kind` is a retouch type, "single", "mixed" or
    "any" (see `random_ops`). `dataset[i]` draws the retouch of the current epoch (`set_epoch`);
    `dataset[(epoch, i)]` that of any epoch, so samplers can resume anywhere. Items are dicts of
    tensors: `retouched` and `original` (3, N, N) in [0, 1], `presence` (4,), `degree` (4,)
    in [0, 1], `level` (4,), `flow` (2, N, N), with retouched(x) = original(x + flow(x)), and
    `retouched_landmarks` (68, 2), the crop's landmarks where the warps moved them.
    `augment` > 0 passes each original through `capture_augment` with that chance scale first;
    `deliver` > 0 is the odds that the retouched face is then saved as JPEG (`augment.deliver`), as apps deliver it.
    """

    def __init__(
        self,
        faces: str | Path | list[str | Path],
        size: int = 256,
        kind: str = "mixed",
        seed: int = 0,
        split: str | None = None,
        val_fraction: float = 0.1,
        cache: str | Path | None = None,
        progress: bool = True,
        augment: float = 0.0,
        deliver: float = 0.0,
    ):
        self.size, self.kind, self.seed, self.epoch, self.augment, self.deliver = size, kind, seed, 0, augment, deliver
        roots = [Path(f) for f in (faces if isinstance(faces, (list, tuple)) else [faces])]
        landmarks = LandmarkCache(cache)
        self.items: list[tuple[Path, np.ndarray]] = []
        photos = [(root, path) for root in roots for path in list_images(root)]
        for root, path in tqdm(photos, desc="landmarks", unit="photo", disable=not progress):
            if split and split_of(path.relative_to(root).as_posix(), val_fraction) != split:
                continue
            lms, error = landmarks.get(path)
            if not error:
                self.items.append((path, lms[0]))
        landmarks.save()
        self._crops: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def set_epoch(self, epoch: int) -> None:
        """Draw different retouches from the next epoch on (deterministic per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def crop(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The aligned original crop (float) and its landmarks, kept in memory as uint8 after first use."""
        if index not in self._crops:
            path, lm = self.items[index]
            crop, alignment = align_face(load_photo(path).rgb, lm, self.size)
            self._crops[index] = (to_uint8(crop), alignment.to_crop(lm).astype(np.float32))
        crop8, lm = self._crops[index]
        return crop8.astype(np.float32) / 255.0, lm

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        original, lm = self.crop(index)
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.augment > 0:
            original = to_uint8(capture_augment(original, rng, self.augment)).astype(np.float32) / 255.0
        retouched, record = random_retouch(original, lm, rng, self.kind)
        if self.deliver > 0:
            retouched = deliver(retouched, rng, self.deliver)
        strengths = np.array([record.strengths()[t] for t in RETOUCH_TYPES], dtype=np.float32)
        flow = record.flow if record.flow is not None else np.zeros((*original.shape[:2], 2), np.float32)
        return {
            # 8-bit like every real retouched photo (and the evaluation's): no cue that quantization erases
            "retouched": _chw(to_uint8(retouched).astype(np.float32) / 255.0),
            "original": _chw(original),
            "presence": torch.from_numpy((strengths > 0).astype(np.float32)),
            "degree": torch.from_numpy(strengths / 100.0),
            "level": torch.tensor([record.levels()[t] for t in RETOUCH_TYPES]),
            "flow": _chw(flow.astype(np.float32)),
            "retouched_landmarks": torch.from_numpy(record.landmarks.astype(np.float32)),
        }
