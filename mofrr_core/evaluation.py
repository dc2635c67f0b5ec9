"""The evaluation suite: a fixed-seed synthetic test set, every method on it, tables, charts, a grid.

From each photo of a face folder (default: the shared `val/`), one aligned crop and five
versions of it: one per retouch type alone and one mixed, drawn with a fixed seed and saved
as 8-bit like any real photo. Each method restores every version; per group (type or mixed)
the report gives PSNR, SSIM and the dlib identity distance to the original, and for MoFRR the
router's precision, recall and F1 per type and the mean absolute error of its degrees.
The optional method "mofrr_oracle" runs MoFRR with the experts of the types truly applied
instead of the router's choice, which separates router errors from what the experts can do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .align import align_face
from .charts import bar_chart
from .errors import MofrrError
from .faces import detect_faces, face_descriptor
from .imageio import list_images, load_photo, to_uint8
from .metrics import bootstrap_interval, detection_scores, psnr, roc_auc, ssim
from .models import RegressionBaseline
from .pipelines import FRRffusionPipeline, MoFRRPipeline
from .retouch import RetouchRecord, random_retouch
from .types import LEVELS, RETOUCH_TYPES
from .weights import default_weights, load_model, resolve_weights

GROUPS = (*RETOUCH_TYPES, "mixed")
METHODS = ("mofrr", "frrffusion", "baseline")
ORACLE = "mofrr_oracle"
PIPELINES = {"mofrr": MoFRRPipeline, "frrffusion": FRRffusionPipeline, ORACLE: MoFRRPipeline}


def weights_name(method: str) -> str:
    """The weights folder a method runs on ("mofrr_oracle" uses MoFRR's)."""
    return "mofrr" if method == ORACLE else method


@dataclass
class TestCase:
    """One retouched version of one aligned face crop (H x W x 3 float in [0, 1])."""

    face: str
    group: str
    original: np.ndarray
    retouched: np.ndarray
    record: RetouchRecord
    box: tuple[float, float, float, float]


def _quantize(rgb: np.ndarray) -> np.ndarray:
    return to_uint8(rgb).astype(np.float32) / 255.0


def build_test_set(faces: str | Path, n: int | None = None, size: int = 256, seed: int = 0, progress: bool = True) -> list[TestCase]:
    """Five versions (each type alone, mixed) of the aligned crop of the first face of each photo."""
    faces = Path(faces)
    photos = list_images(faces)[:n]
    if not photos:
        raise MofrrError(f"{faces}: no photos found; pass --faces with a folder of face photos")
    cases = []
    for p, path in enumerate(tqdm(photos, desc="test set", unit="photo", disable=not progress)):
        found = detect_faces(load_photo(path).rgb)
        if not found:
            continue
        crop, alignment = align_face(load_photo(path).rgb, found[0].landmarks, size)
        original = _quantize(crop)
        landmarks = alignment.to_crop(found[0].landmarks).astype(np.float32)
        in_crop = detect_faces(original, use_cnn=False)
        box = in_crop[0].box if in_crop else (*landmarks.min(axis=0), *landmarks.max(axis=0))
        for g, group in enumerate(GROUPS):
            retouched, record = random_retouch(original, landmarks, np.random.default_rng([seed, p, g]), group)
            cases.append(TestCase(path.relative_to(faces).as_posix(), group, original, _quantize(retouched), record, tuple(box)))
    if not cases:
        raise MofrrError(f"{faces}: no face found in any photo")
    return cases


@dataclass
class Restorations:
    """A method's restored crops, and for MoFRR the routing probabilities and degrees per case."""

    images: list[np.ndarray]
    routing: list[dict[str, float]] = field(default_factory=list)
    degrees: list[dict[str, float]] = field(default_factory=list)


def _batches(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _expert_choices(method: str, cases: list[TestCase]) -> dict[tuple[str, ...] | None, list[int]]:
    """Case indices per expert choice: every case left to the router (None), or for the oracle grouped by
    the retouch types truly applied."""
    if method != ORACLE:
        return {None: list(range(len(cases)))}
    choices: dict[tuple[str, ...] | None, list[int]] = {}
    for i, case in enumerate(cases):
        choices.setdefault(tuple(t for t in RETOUCH_TYPES if case.record.strengths()[t] > 0), []).append(i)
    return choices


def restore_cases(method: str, cases: list[TestCase], steps: int = 10, seed: int = 0, weights=None, batch_size: int = 8,
                  device: str = "cpu", progress: bool = True) -> Restorations:
    """Run one method ("mofrr", "mofrr_oracle", "frrffusion" or "baseline") on every case, in batches."""
    out = Restorations([])
    bar = tqdm(total=len(cases), desc=method, unit="face", disable=not progress)
    if method == "baseline":
        model = load_model(resolve_weights(weights or default_weights("mofrr").parent / "baseline"), RegressionBaseline).to(device)
        for batch in _batches(cases, batch_size):
            x = torch.from_numpy(np.stack([c.retouched for c in batch])).permute(0, 3, 1, 2).to(device)
            with torch.inference_mode():
                out.images += list(model(x).permute(0, 2, 3, 1).float().cpu().numpy())
            bar.update(len(batch))
    elif method in PIPELINES:
        pipe = PIPELINES[method].from_pretrained(weights or default_weights(weights_name(method))).to(device)
        faces = [None] * len(cases)
        for experts, indices in _expert_choices(method, cases).items():
            options = {} if experts is None else {"experts": list(experts)}
            for batch in _batches(indices, batch_size):
                for i, result in zip(batch, pipe([cases[i].retouched for i in batch], steps=steps, seed=seed, aligned=True, **options)):
                    faces[i] = result
                bar.update(len(batch))
        out.images = [result.image.rgb for result in faces]
        out.routing = [result.faces[0].routing for result in faces]
        out.degrees = [result.faces[0].degrees for result in faces]
    else:
        raise MofrrError(f"unknown method {method!r}; choose from {', '.join((*METHODS, ORACLE))}")
    bar.close()
    return out


def _image_metrics(restored: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    a, b = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() for x in (restored, original))
    return float(psnr(a, b)), float(ssim(a, b))


@dataclass
class EvaluationReport:
    """Per method and group: mean psnr, ssim, identity and the 95 % interval of the PSNR gain over the input
    (faces resampled); the router and degree figures of MoFRR, with how many retouches of each type and level
    the router found (`found_by_level[type][level - 1]` = [found, applied])."""

    rows: dict[str, dict[str, dict[str, float]]]
    router: dict[str, dict[str, float]]
    degree_mae: dict[str, float]
    faces: int
    steps: int
    found_by_level: dict[str, list[list[int]]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"faces": self.faces, "steps": self.steps, "rows": self.rows, "router": self.router, "degree_mae": self.degree_mae,
                "found_by_level": self.found_by_level}

    def to_markdown(self) -> str:
        lines = [f"PSNR (dB) / SSIM / identity distance (dlib, lower is closer to the original); {self.faces} faces, {self.steps} DDIM steps.", ""]
        lines += ["| method | " + " | ".join(GROUPS) + " |", "|---" * (len(GROUPS) + 1) + "|"]
        base = self.rows["input"]
        for method, groups in self.rows.items():
            cells = []
            for g in GROUPS:
                m = groups[g]
                delta = "" if method == "input" else f" ({m['psnr'] - base[g]['psnr']:+.2f})"
                cells.append(f"{m['psnr']:.2f}{delta} / {m['ssim']:.3f} / {m['identity']:.3f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "| PSNR gain over the input (dB), 95 % interval over the faces | " + " | ".join(GROUPS) + " |", "|---" * (len(GROUPS) + 1) + "|"]
        for method, groups in self.rows.items():
            if method != "input":
                lines.append(f"| {method} | " + " | ".join(f"{groups[g]['gain_low']:+.2f} to {groups[g]['gain_high']:+.2f}" for g in GROUPS) + " |")
        if self.router:
            lines += ["", "| MoFRR router and degrees | " + " | ".join(RETOUCH_TYPES) + " |", "|---" * (len(RETOUCH_TYPES) + 1) + "|"]
            for metric in ("precision", "recall", "f1"):
                lines.append(f"| {metric} | " + " | ".join(f"{self.router[t][metric]:.3f}" for t in RETOUCH_TYPES) + " |")
            lines.append("| f1, 95 % interval over the faces | " + " | ".join(f"{self.router[t]['f1_low']:.3f}-{self.router[t]['f1_high']:.3f}" for t in RETOUCH_TYPES) + " |")
            lines.append("| ROC AUC | " + " | ".join(f"{self.router[t]['auc']:.3f}" for t in RETOUCH_TYPES) + " |")
            lines.append("| degree MAE | " + " | ".join(f"{self.degree_mae[t]:.3f}" for t in RETOUCH_TYPES) + " |")
        if self.found_by_level:
            lines += ["", "| MoFRR router: retouches found, by level | " + " | ".join(RETOUCH_TYPES) + " |", "|---" * (len(RETOUCH_TYPES) + 1) + "|"]
            for level in range(1, LEVELS + 1):
                cells = (self.found_by_level[t][level - 1] for t in RETOUCH_TYPES)
                lines.append(f"| level {level} (strength {(level - 1) * 100 // LEVELS}-{level * 100 // LEVELS}) | " + " | ".join(
                    f"{found}/{applied} ({found / applied:.0%})" if applied else "-" for found, applied in cells) + " |")
        return "\n".join(lines) + "\n"


def _router_scores(cases: list[TestCase], routing: list[dict[str, float]], threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 (with its 95 % interval over the faces) and ROC AUC of the router per type."""
    truth = torch.tensor([[c.record.strengths()[t] > 0 for t in RETOUCH_TYPES] for c in cases])
    probabilities = torch.tensor([[r[t] for t in RETOUCH_TYPES] for r in routing])
    found = probabilities >= threshold
    scores = detection_scores(found, truth)
    scores["f1_low"], scores["f1_high"] = bootstrap_interval(lambda rows: detection_scores(found[rows], truth[rows])["f1"], [c.face for c in cases])
    scores["auc"] = roc_auc(probabilities, truth)
    return {t: {name: float(values[j]) for name, values in scores.items()} for j, t in enumerate(RETOUCH_TYPES)}


def _found_by_level(cases: list[TestCase], routing: list[dict[str, float]], threshold: float = 0.5) -> dict[str, list[list[int]]]:
    """Per type and level 1..LEVELS: [retouches the router found, retouches applied], to show how strong a retouch
    must be to be found."""
    counts = {t: [[0, 0] for _ in range(LEVELS)] for t in RETOUCH_TYPES}
    for case, probabilities in zip(cases, routing):
        for t, level in case.record.levels().items():
            if level:
                counts[t][level - 1][0] += int(probabilities[t] >= threshold)
                counts[t][level - 1][1] += 1
    return counts


def _degree_mae(cases: list[TestCase], degrees: list[dict[str, float]]) -> dict[str, float]:
    mae = {}
    for t in RETOUCH_TYPES:
        errors = [abs(d[t] - c.record.strengths()[t] / 100) for c, d in zip(cases, degrees) if c.record.strengths()[t] > 0]
        mae[t] = float(np.mean(errors)) if errors else float("nan")
    return mae


def _mean_interval(values: torch.Tensor) -> tuple[float, float]:
    """95 % interval of the mean of one value per face, faces resampled."""
    low, high = bootstrap_interval(lambda rows: values[rows].mean()[None], range(len(values)))
    return float(low), float(high)


def score(cases: list[TestCase], restorations: dict[str, Restorations], progress: bool = True) -> EvaluationReport:
    """Aggregate metrics of every method (plus the "input" row) per group."""
    reference = [face_descriptor(c.original, c.box) for c in cases]
    rows: dict[str, dict[str, dict[str, float]]] = {}
    psnrs: dict[str, dict[str, torch.Tensor]] = {}
    everything = {"input": [c.retouched for c in cases], **{m: r.images for m, r in restorations.items()}}
    for method, images in everything.items():
        per_group: dict[str, list[tuple[float, float, float]]] = {g: [] for g in GROUPS}
        for case, image, ref in tqdm(list(zip(cases, images, reference)), desc=f"scoring {method}", disable=not progress):
            p, s = _image_metrics(image, case.original)
            identity = float(np.linalg.norm(face_descriptor(image, case.box) - ref))
            per_group[case.group].append((p, s, identity))
        rows[method] = {
            g: dict(zip(("psnr", "ssim", "identity"), (float(v) for v in np.mean(values, axis=0)))) for g, values in per_group.items() if values
        }
        psnrs[method] = {g: torch.tensor([v[0] for v in values]) for g, values in per_group.items() if values}
    for method in restorations:
        for g, row in rows[method].items():
            row["gain_low"], row["gain_high"] = _mean_interval(psnrs[method][g] - psnrs["input"][g])
    mofrr = restorations.get("mofrr")
    router = _router_scores(cases, mofrr.routing) if mofrr else {}
    degree = _degree_mae(cases, mofrr.degrees) if mofrr else {}
    found = _found_by_level(cases, mofrr.routing) if mofrr else {}
    return EvaluationReport(rows, router, degree, len({c.face for c in cases}), 0, found)


def example_grid(cases: list[TestCase], restorations: dict[str, Restorations], path: str | Path, count: int = 4, group: str = "mixed") -> None:
    """Rows of examples of one group: original, retouched, then each method's restoration."""
    chosen = [i for i, c in enumerate(cases) if c.group == group][:count]
    rows = [np.concatenate([cases[i].original, cases[i].retouched, *(r.images[i] for r in restorations.values())], axis=1) for i in chosen]
    Image.fromarray(to_uint8(np.concatenate(rows, axis=0))).save(path)


def evaluate(faces: str | Path, out: str | Path, methods: Sequence[str] = METHODS, steps: int = 10, n: int | None = None, seed: int = 0,
             weights: dict[str, str] | None = None, device: str = "cpu", progress: bool = True,
             log: Callable[[str], object] = print) -> EvaluationReport:
    """Build the test set, run every method, write evaluation.md/.json, evaluation.png and grid.png to `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = build_test_set(faces, n=n, seed=seed, progress=progress)
    restorations = {
        m: restore_cases(m, cases, steps=steps, seed=seed, weights=(weights or {}).get(m), device=device, progress=progress) for m in methods
    }
    report = score(cases, restorations, progress=progress)
    report.steps = steps
    (out / "evaluation.md").write_text(report.to_markdown())
    (out / "evaluation.json").write_text(json.dumps(report.to_dict(), indent=1))
    gains = {g: {m: report.rows[m][g]["psnr"] - report.rows["input"][g]["psnr"] for m in restorations} for g in GROUPS}
    bar_chart(gains, out / "evaluation.png", f"PSNR gain over the input ({report.faces} faces, {steps} steps)", "dB")
    example_grid(cases, restorations, out / "grid.png")
    log(f"wrote {out / 'evaluation.md'}, evaluation.json, evaluation.png and grid.png")
    return report
