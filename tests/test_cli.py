"""`mofrr retouch` and `mofrr synthesize` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

import bad_inputs
from conftest import EXAMPLES


def mofrr(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mofrr_core.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_retouch_good_and_bad_inputs(tmp_path, two_face_photo, reliability):
    """`mofrr retouch` on a good photo, two faces and the whole bad-input corpus at once."""
    good = sorted(EXAMPLES.glob("*.jpg"))[0]
    full = Image.open(good)
    folder, out = tmp_path / "corpus", tmp_path / "out"
    cases = bad_inputs.write_files(folder)
    ops = ["--ops", "whitening=60,eye_enlargement=40", "--seed", "5"]
    result = mofrr("retouch", good, *(folder / f for f in cases), two_face_photo, "-o", out, *ops)
    tried = bad_inputs.check_cli_answers(result, folder, cases, out, "retouch")
    image = np.asarray(Image.open(out / f"{good.stem}.png"))
    assert image.shape == np.asarray(full).shape
    assert np.abs(image.astype(int) - np.asarray(full)).mean() > 0.3
    report = json.loads((out / f"{good.stem}.json").read_text())
    assert report["seed"] == 5 and len(report["faces"]) == 1
    assert report["faces"][0]["strengths"]["whitening"] == 60 and report["faces"][0]["levels"]["eye_enlargement"] == 3
    assert [op["op"] for op in report["faces"][0]["ops"]] == ["whitening", "eye_enlargement"]
    two = json.loads((out / "two_faces.json").read_text())
    assert len(two["faces"]) == 2
    reliability["CLI mofrr retouch: inputs tried, failures"] = f"{tried + 2}, 0"


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
