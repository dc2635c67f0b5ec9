"""Speed of each retouch op and of the face pipeline on one core (median of repeated runs, after warm-up)."""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from mofrr_core.align import paste_back
from mofrr_core.face_pipeline import align_faces
from mofrr_core.faces import detect_faces
from mofrr_core.imageio import load_photo
from mofrr_core.retouch import random_ops, retouch
from mofrr_core.types import RETOUCH_TYPES

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median, max) milliseconds of `fn()` over `repeats` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.max(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photo", type=Path, default=ROOT / "examples/canada_008f.jpg")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    photo = load_photo(args.photo)
    face = align_faces(photo.rgb, size=args.size)[0]
    rows = [(f"{op} (strength 60)", timed(lambda op=op: retouch(face.crop, face.landmarks, {op: 60}, seed=0), args.repeats)) for op in RETOUCH_TYPES]
    rng = np.random.default_rng(0)
    rows.append(("mixed (2-4 ops)", timed(lambda: retouch(face.crop, face.landmarks, random_ops(rng, "mixed"), rng), args.repeats)))
    w, h = photo.size
    few = max(3, args.repeats // 5)
    rows.append((f"detect + 68 landmarks ({w}x{h} photo)", timed(lambda: detect_faces(photo.rgb), few)))
    rows.append((f"align to {args.size}", timed(lambda: align_faces(photo.rgb, size=args.size), few)))
    rows.append(("paste back", timed(lambda: paste_back(photo.rgb, face.crop, face.alignment, reference=face.crop), few)))
    print(f"retouch simulator, {args.size}x{args.size} crop, 1 OpenCV thread, {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print("| step | median ms | max ms |\n|---|---|---|")
    for name, (median, worst) in rows:
        print(f"| {name} | {median:.1f} | {worst:.1f} |")


if __name__ == "__main__":
    main()
