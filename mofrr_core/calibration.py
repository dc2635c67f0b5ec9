"""Calibrating the router's presence thresholds on photos of the kind it will read.

The best threshold depends on how well a read separates retouched faces from untouched ones, and
that depends on the photos: on the training sources' held-out faces (94 % small UTKFace crops) the
router ranks whitening at ROC AUC 0.92-0.93, on sharp studio photos at 0.96-0.97, so a threshold
chosen there carries badly (see the README's Evaluation section). Here clean photos of the kind a
user reads are retouched as the evaluation set is (five versions each, `build_test_set`), and per
type the threshold with the best F1 on them is folded into the router's bias (`move_thresholds`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .errors import MofrrError
from .evaluation import build_test_set
from .imageio import to_uint8
from .metrics import best_thresholds, detection_scores, roc_auc
from .models import Router
from .types import RETOUCH_TYPES, check_type
from .weights import check_component, quiet_dtype_casts, write_manifest

SAVED_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16}
CALIBRATION_FILE = "calibration.json"


@dataclass
class CalibrationSet:
    """Retouched aligned crops (N, 3, H, W) as 8-bit, like the photos they stand for, and which types each carries (N, 4)."""

    images: torch.Tensor
    presence: torch.Tensor


@dataclass
class Calibration:
    """What `calibrate_router` did: per calibrated type the probability threshold it moved to 0.5, and
    F1 on the calibration set before and after; `auc`: ROC AUC per type (thresholds do not change it)."""

    cases: int
    thresholds: dict[str, float]
    f1_before: dict[str, float]
    f1_after: dict[str, float]
    auc: dict[str, float]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def summary(self) -> str:
        rows = [f"{t}: threshold {p:.3f}, F1 {self.f1_before[t]:.3f} -> {self.f1_after[t]:.3f} (ROC AUC {self.auc[t]:.3f})" for t, p in self.thresholds.items()]
        return f"calibrated on {self.cases} retouched faces\n" + "\n".join(rows)


def calibration_set(faces: Sequence[str | Path], seeds: Sequence[int] = (1,), size: int = 256, progress: bool = True) -> CalibrationSet:
    """Every photo of each folder of `faces`, five versions per seed, retouched as the evaluation set is."""
    images, presence = [], []
    for folder in faces:
        if not Path(folder).is_dir():
            raise MofrrError(f"{folder}: no such folder; the router is calibrated on folders of clean face photos")
        for seed in seeds:
            for case in build_test_set(folder, size=size, seed=seed, progress=progress):
                images.append(torch.from_numpy(to_uint8(case.retouched)).permute(2, 0, 1))
                presence.append([float(case.record.strengths()[t] > 0) for t in RETOUCH_TYPES])
    return CalibrationSet(torch.stack(images), torch.tensor(presence))


@torch.no_grad()
def router_probabilities(router: Router, images: torch.Tensor, batch_size: int = 32, progress: bool = True) -> torch.Tensor:
    """(N, 4) presence probabilities of 8-bit aligned crops (N, 3, H, W), read in batches on the router's device and dtype."""
    parameter = next(router.parameters())
    out = []
    for start in tqdm(range(0, len(images), batch_size), desc="router", unit="batch", disable=not progress):
        batch = images[start : start + batch_size].to(parameter.device, parameter.dtype) / 255
        out.append(router(batch, landmarks=router.find_landmarks(batch)).probabilities.float().cpu())
    return torch.cat(out)


def calibrate_router(router: Router, data: CalibrationSet, types: Sequence[str] | None = None, progress: bool = True) -> Calibration:
    """Move the presence thresholds of `types` (default: all four) of `router`, in place, to the ones with
    the best F1 on `data`; the other types read as before."""
    columns = [RETOUCH_TYPES.index(check_type(t)) for t in (types or RETOUCH_TYPES)]
    truth = data.presence
    missing = [RETOUCH_TYPES[c] for c in columns if truth[:, c].all() or not truth[:, c].any()]
    if missing:
        raise MofrrError(f"calibration: {', '.join(missing)} needs faces with and without it; give more photos")
    probabilities = router_probabilities(router, data.images, progress=progress)
    chosen = best_thresholds(probabilities, truth)
    thresholds = [float(chosen[c]) if c in columns else 0.5 for c in range(len(RETOUCH_TYPES))]
    router.move_thresholds(thresholds)  # from now on 0.5 reads as `thresholds` did
    f1_before = detection_scores(probabilities >= 0.5, truth)["f1"]
    f1_after = detection_scores(probabilities >= torch.tensor(thresholds), truth)["f1"]
    auc = roc_auc(probabilities, truth)
    names = [RETOUCH_TYPES[c] for c in columns]
    return Calibration(
        len(truth),
        {t: float(chosen[c]) for t, c in zip(names, columns)},
        {t: float(f1_before[c]) for t, c in zip(names, columns)},
        {t: float(f1_after[c]) for t, c in zip(names, columns)},
        {t: float(auc[c]) for t, c in zip(names, columns)},
    )


def check_new_folder(out: str | Path) -> None:
    """A user error unless `out` is free for the calibrated copy (missing or empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MofrrError(f"{out}: exists and is not empty; pass a new output folder")


def write_calibrated(pipeline: str | Path, router: Router, calibration: Calibration, out: str | Path) -> Path:
    """A copy of the MoFRR pipeline folder `pipeline` at `out` with `router` in place of its own (in the
    dtype its router was saved in), `calibration.json`, and a manifest of its own."""
    pipeline, out = Path(pipeline), Path(out)
    if out.resolve() == pipeline.resolve():
        raise MofrrError(f"{out}: is the pipeline folder being calibrated; write the calibrated copy elsewhere")
    check_new_folder(out)
    stored = {info.dtype for info in check_component(pipeline / "router").tensors.values()}
    dtype = next((d for name, d in SAVED_DTYPES.items() if name in stored), torch.float32)
    shutil.copytree(pipeline, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("SHA256SUMS", "router"))
    with quiet_dtype_casts():
        router.to(dtype).save_pretrained(out / "router")
    calibration.save(out / CALIBRATION_FILE)
    write_manifest(out)
    return out
