"""A torch Dataset over a folder of fixed retouched/original pairs with a `labels.jsonl` file.

The layout is what `mofrr synthesize` writes, and what a user gives for real pairs (a
beautify app's output and the photo it came from): one JSON object per line with `file` (the
retouched image) and `original` (paths relative to the folder), `strengths` (retouch type ->
0..100, absent types 0 or missing) and optionally `split` ("train" / "val"). Images should be
aligned face crops of one size (`mofrr synthesize` makes them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import MofrrError
from ..imageio import load_photo
from ..types import RETOUCH_TYPES, strength_to_level


def _matches(strengths: dict[str, float], kind: str) -> bool:
    present = [t for t in RETOUCH_TYPES if strengths.get(t, 0) > 0]
    if kind in ("any", "evaluation"):
        return bool(present)
    if kind == "single":
        return len(present) == 1
    if kind == "mixed":
        return len(present) > 1
    return present == [kind]


def _tensor(path: Path, size: int) -> torch.Tensor:
    rgb = load_photo(path).rgb
    if rgb.shape[:2] != (size, size):
        raise MofrrError(f"{path}: {rgb.shape[1]}x{rgb.shape[0]}, expected an aligned {size}x{size} crop; re-run mofrr synthesize with --size {size}")
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


class PairFolder(Dataset):
    """The labelled pairs of `kind` (see `random_ops`) in `split`; items as `RetouchPairs` gives them.

    Keys may be (epoch, index) like `RetouchPairs`; the epoch is ignored (the pairs are fixed).
    """

    def __init__(self, folder: str | Path, size: int = 256, kind: str = "any", split: str | None = None):
        self.folder, self.size = Path(folder), size
        labels = self.folder / "labels.jsonl"
        try:
            rows = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise MofrrError(f"{labels}: cannot read the pair labels ({exc}); see `mofrr synthesize` for the format") from None
        self.rows = [r for r in rows if _matches(r.get("strengths", {}), kind) and (split is None or r.get("split", "train") == split)]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        row = self.rows[key[1] if isinstance(key, tuple) else key]
        strengths = np.array([float(row["strengths"].get(t, 0)) for t in RETOUCH_TYPES], dtype=np.float32)
        return {
            "retouched": _tensor(self.folder / row["file"], self.size),
            "original": _tensor(self.folder / row["original"], self.size),
            "presence": torch.from_numpy((strengths > 0).astype(np.float32)),
            "degree": torch.from_numpy(strengths / 100.0),
            "level": torch.tensor([strength_to_level(s) for s in strengths]),
            "flow": torch.zeros(2, self.size, self.size),
        }
