"""`mofrr retouch` and `mofrr synthesize` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import EXAMPLES


def mofrr(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mofrr_core.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_retouch_good_and_bad_inputs(tmp_path, two_face_photo):
    good = sorted(EXAMPLES.glob("*.jpg"))[0]
    (tmp_path / "notes.png").write_text("not a picture")
    Image.new("RGB", (16, 16)).save(tmp_path / "tiny.png")
    Image.new("RGB", (300, 300), "white").save(tmp_path / "wall.png")
    full = Image.open(good)
    full.save(tmp_path / "trunc.jpg")
    (tmp_path / "trunc.jpg").write_bytes((tmp_path / "trunc.jpg").read_bytes()[:4000])
    Image.new("1", (20000, 20000)).save(tmp_path / "huge.png")
    bad = ["notes.png", "tiny.png", "wall.png", "trunc.jpg", "huge.png"]
    out = tmp_path / "out"
    result = mofrr("retouch", good, *(tmp_path / b for b in bad), two_face_photo, "-o", out, "--ops", "whitening=60,eye_enlargement=40", "--seed", "5")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(bad)
    for name in bad:
        assert sum(name in line for line in errors) == 1
    assert "Traceback" not in result.stderr
    image = np.asarray(Image.open(out / f"{good.stem}.png"))
    assert image.shape == np.asarray(full).shape
    assert np.abs(image.astype(int) - np.asarray(full)).mean() > 0.3
    report = json.loads((out / f"{good.stem}.json").read_text())
    assert report["seed"] == 5 and len(report["faces"]) == 1
    assert report["faces"][0]["strengths"]["whitening"] == 60 and report["faces"][0]["levels"]["eye_enlargement"] == 3
    assert [op["op"] for op in report["faces"][0]["ops"]] == ["whitening", "eye_enlargement"]
    two = json.loads((out / "two_faces.json").read_text())
    assert len(two["faces"]) == 2


def test_retouch_single_output_file_and_bad_ops(tmp_path):
    good = sorted(EXAMPLES.glob("*.jpg"))[1]
    ok = mofrr("retouch", good, "-o", tmp_path / "x.png", "--ops", "face_slimming=80")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "x.png").is_file() and (tmp_path / "x.json").is_file()
    bad = mofrr("retouch", good, "-o", tmp_path / "y.png", "--ops", "lipstick=30")
    assert bad.returncode == 2 and "unknown retouch type" in bad.stderr and "Traceback" not in bad.stderr


def test_synthesize_command_reports_skips(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    for path in sorted(EXAMPLES.glob("*.jpg"))[:2]:
        (faces / path.name).write_bytes(path.read_bytes())
    (faces / "junk.jpg").write_text("junk")
    result = mofrr("synthesize", "--faces", faces, "--out", tmp_path / "ds", "--size", "64", "--singles", "0", "--mixed", "1")
    assert result.returncode == 0, result.stderr
    assert "2 photos used" in result.stdout and "1 skipped" in result.stdout
    assert "skipped junk.jpg" in result.stderr
    missing = mofrr("synthesize", "--faces", tmp_path / "nope", "--out", tmp_path / "ds2")
    assert missing.returncode == 2 and "no such folder" in missing.stderr
