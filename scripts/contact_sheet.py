"""Render docs/contact_sheet.png: example faces, each retouch op at strength 30/60/90, and mixed retouching."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mofrr_core.face_pipeline import align_faces
from mofrr_core.imageio import load_photo, to_uint8
from mofrr_core.retouch import random_ops, retouch
from mofrr_core.types import RETOUCH_TYPES

ROOT = Path(__file__).resolve().parents[1]


def label(cell: np.ndarray, text: str) -> np.ndarray:
    out = to_uint8(cell).copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def face_block(path: Path, size: int, seed: int) -> np.ndarray:
    face = align_faces(load_photo(path).rgb, size=size)[0]
    rows = []
    for op in RETOUCH_TYPES:
        cells = [label(face.crop, "original")]
        cells += [label(retouch(face.crop, face.landmarks, {op: s}, seed=seed)[0], f"{op} {s}") for s in (30, 60, 90)]
        rows.append(np.concatenate(cells, axis=1))
    mixed = [label(face.crop, "original")]
    for k in range(3):
        rng = np.random.default_rng([seed, k])
        ops = random_ops(rng, "mixed", low=40)
        text = "+".join(name.split("_")[0][:5] + str(int(s)) for name, s in ops)
        mixed.append(label(retouch(face.crop, face.landmarks, ops, rng)[0], text))
    rows.append(np.concatenate(mixed, axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", nargs="+", type=Path, default=[ROOT / "examples/canada_044f.jpg", ROOT / "examples/canada_098m.jpg"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/contact_sheet.png")
    args = parser.parse_args()
    gap = np.full((args.size * 5, 12, 3), 255, np.uint8)
    blocks = [face_block(p, args.size, seed=i) for i, p in enumerate(args.photos)]
    sheet = np.concatenate([x for b in blocks for x in (b, gap)][:-1], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
