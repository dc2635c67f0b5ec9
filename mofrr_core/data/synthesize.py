"""Build an on-disk paired dataset: aligned originals, retouched versions and JSONL labels."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..align import align_face
from ..imageio import Photo, list_images, load_photo, save_photo
from ..retouch import random_ops, retouch
from ..types import RETOUCH_TYPES
from .landmark_cache import LandmarkCache


def split_of(source: str, val_fraction: float) -> str:
    """Deterministic train/val split by source photo, so no face is in both."""
    bucket = int(hashlib.sha1(source.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < val_fraction else "train"


@dataclass
class SynthesisReport:
    """What a synthesis run did: photos used, pairs written, photos skipped and why."""

    photos: int = 0
    resumed: int = 0
    pairs: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        reasons = Counter(r.split(":")[-1].split(";")[0].strip() for r in self.skipped.values())
        why = ", ".join(f"{n} {r}" for r, n in reasons.most_common())
        return f"{self.photos} photos used ({self.resumed} already done), {self.pairs} pairs written, {len(self.skipped)} skipped" + (
            f" ({why})" if why else ""
        )


def _read_done(out: Path) -> set[str]:
    done = set()
    for name in ("labels.jsonl", "skipped.jsonl"):
        path = out / name
        if path.is_file():
            done |= {json.loads(line)["source"] for line in path.read_text().splitlines() if line.strip()}
    return done


def _variants(singles: int, mixed: int) -> list[str]:
    return [t for t in RETOUCH_TYPES for _ in range(singles)] + ["mixed"] * mixed


def synthesize(
    faces: str | Path,
    out: str | Path,
    size: int = 256,
    singles: int = 1,
    mixed: int = 2,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_faces: int = 1,
    limit: int | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
) -> SynthesisReport:
    """Synthesize pairs from every photo under `faces` into `out`; re-running resumes where it stopped."""
    faces, out = Path(faces), Path(out)
    (out / "originals").mkdir(parents=True, exist_ok=True)
    (out / "retouched").mkdir(exist_ok=True)
    landmarks = LandmarkCache(cache or out / "landmarks.json")
    done = _read_done(out)
    report = SynthesisReport()
    photos = list_images(faces)[:limit]
    with open(out / "labels.jsonl", "a") as labels, open(out / "skipped.jsonl", "a") as skipped:
        for photo_path in tqdm(photos, desc="synthesize", unit="photo", disable=not progress):
            source = photo_path.relative_to(faces).as_posix()
            if source in done:
                report.resumed += 1
                continue
            lms, error = landmarks.get(photo_path)
            if error:
                report.skipped[source] = error
                skipped.write(json.dumps({"source": source, "reason": error}) + "\n")
                skipped.flush()
                continue
            rgb = load_photo(photo_path).rgb
            rows = []
            for face_index, lm in enumerate(lms[:max_faces]):
                rows += _synthesize_face(rgb, lm, source, face_index, out, size, _variants(singles, mixed), val_fraction, seed)
            labels.write("".join(json.dumps(row) + "\n" for row in rows))
            labels.flush()
            report.photos += 1
            report.pairs += len(rows)
    landmarks.save()
    return report


def _synthesize_face(rgb, lm, source, face_index, out, size, variants, val_fraction, seed) -> list[dict]:
    crop, alignment = align_face(rgb, lm, size)
    crop_lm = alignment.to_crop(lm).astype(np.float32)
    stem = f"{Path(source).stem}_{hashlib.sha1(source.encode()).hexdigest()[:6]}_f{face_index}"
    original = f"originals/{stem}.png"
    save_photo(Photo(crop), out / original)
    split = split_of(source, val_fraction)
    rows = []
    for k, kind in enumerate(variants):
        pair_seed = [seed, int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16), k]
        rng = np.random.default_rng(pair_seed)
        image, record = retouch(crop, crop_lm, random_ops(rng, kind), rng)
        name = f"retouched/{stem}_{k:02d}_{kind}.png"
        save_photo(Photo(image), out / name)
        summary = record.to_dict()
        rows.append(
            {
                "file": name,
                "original": original,
                "source": source,
                "face": face_index,
                "kind": kind,
                "ops": [r["op"] for r in summary["ops"]],
                "strengths": summary["strengths"],
                "levels": summary["levels"],
                "split": split,
                "seed": pair_seed,
            }
        )
    return rows
