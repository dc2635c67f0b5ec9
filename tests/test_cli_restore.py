"""`mofrr restore` end to end with a real (tiny, random) pipeline saved to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mofrr_core.imageio import Photo, save_photo

from conftest import EXAMPLES
from test_cli import mofrr

REQUIRED = {"method", "routing", "active", "degrees", "faces", "steps", "seed", "weights", "timings"}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline

    root = tmp_path_factory.mktemp("weights")
    MoFRRPipeline.from_config_name("tiny").save_pretrained(root / "mofrr")
    FRRffusionPipeline.from_config_name("tiny").save_pretrained(root / "frrffusion")
    return root


@pytest.mark.parametrize("method", ["mofrr", "frrffusion"])
def test_restore_aligned_crops(tmp_path, aligned, tiny_weights, method):
    crop_path = tmp_path / "crop.png"
    save_photo(Photo(aligned[0][0]), crop_path)
    out = tmp_path / "out"
    result = mofrr("restore", crop_path, "--aligned", "-o", out, "--method", method, "--steps", "2", "--seed", "3", "--weights", tiny_weights / method)
    assert result.returncode == 0, result.stderr
    restored = np.asarray(Image.open(out / "crop.png"))
    assert restored.shape == (256, 256, 3)
    report = json.loads((out / "crop.json").read_text())
    assert REQUIRED <= set(report) and report["method"] == method and report["steps"] == 2 and report["seed"] == 3
    if method == "mofrr":
        assert set(report["routing"]) == {"whitening", "smoothing", "face_slimming", "eye_enlargement"}
        assert all(0 <= v <= 1 for v in report["degrees"].values())


def test_restore_whole_photos_keeps_going_past_bad_inputs(tmp_path, two_face_photo, tiny_weights):
    good = sorted(EXAMPLES.glob("*.jpg"))[0]
    (tmp_path / "junk.png").write_text("not an image")
    Image.new("RGB", (320, 320), "gray").save(tmp_path / "wall.png")
    out = tmp_path / "out"
    result = mofrr(
        "restore", good, tmp_path / "junk.png", two_face_photo, tmp_path / "wall.png", "-o", out, "--steps", "1", "--weights", tiny_weights / "mofrr"
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "junk.png" in errors[0] + errors[1] and "wall.png" in errors[0] + errors[1]
    assert "Traceback" not in result.stderr
    assert np.asarray(Image.open(out / f"{good.stem}.png")).shape == np.asarray(Image.open(good)).shape
    two = json.loads((out / "two_faces.json").read_text())
    assert len(two["faces"]) == 2 and Image.open(out / "two_faces.png").size == Image.open(two_face_photo).size


def test_restore_with_missing_weights_is_one_clear_line(tmp_path):
    good = sorted(EXAMPLES.glob("*.jpg"))[0]
    result = mofrr("restore", good, "-o", tmp_path, "--weights", tmp_path / "no-such-weights")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no-such-weights" in result.stderr and len(result.stderr.strip().splitlines()) == 1
