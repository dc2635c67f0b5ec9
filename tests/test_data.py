"""The paired-data engine: labels, split by source photo, skip report, resume; the on-the-fly dataset."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from mofrr_core.data import LandmarkCache, RetouchPairs, synthesize
from mofrr_core.data.augment import capture_augment
from mofrr_core.data.synthesize import split_of
from mofrr_core.types import RETOUCH_TYPES


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("faces")
    for i, path in enumerate(photos):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        shutil.copy(path, sub / path.name)
    Image.new("RGB", (200, 200), (120, 160, 90)).save(folder / "lawn.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def _labels(out):
    return [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]


def test_synthesize_writes_pairs_labels_and_skip_report(face_folder, photos, tmp_path):
    out = tmp_path / "ds"
    report = synthesize(face_folder, out, size=128, singles=1, mixed=2, val_fraction=0.5, seed=3, progress=False)
    assert report.photos == len(photos) and report.pairs == 6 * len(photos)
    assert set(report.skipped) == {"lawn.png", "broken.jpg"}
    assert "no face" in report.skipped["lawn.png"] and "damaged" in report.skipped["broken.jpg"]
    assert "2 skipped" in report.summary()
    rows = _labels(out)
    assert len(rows) == 6 * len(photos)
    for row in rows:
        image = np.asarray(Image.open(out / row["file"]))
        original = np.asarray(Image.open(out / row["original"]))
        assert image.shape == original.shape == (128, 128, 3)
        assert row["split"] == split_of(row["source"], 0.5)
        present = [t for t in RETOUCH_TYPES if row["strengths"][t] > 0]
        assert sorted(present) == sorted(row["ops"])
        assert all(row["levels"][t] == (1 + min(4, int(row["strengths"][t] // 20)) if t in present else 0) for t in RETOUCH_TYPES)
        if row["kind"] == "mixed":
            assert 2 <= len(row["ops"]) <= 4
        else:
            assert row["ops"] == [row["kind"]]
        assert np.abs(image.astype(int) - original).mean() > 0.05
    by_source = {}
    for row in rows:
        by_source.setdefault(row["source"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in by_source.values()), "a photo never spans train and val"


def test_synthesize_resumes_without_duplicates(face_folder, photos, tmp_path):
    out = tmp_path / "ds"
    first = synthesize(face_folder, out, size=96, singles=0, mixed=1, limit=2, progress=False)
    again = synthesize(face_folder, out, size=96, singles=0, mixed=1, progress=False)
    assert first.photos + again.photos == len(photos)
    assert again.resumed == 2
    rows = _labels(out)
    assert len(rows) == len({r["file"] for r in rows}) == len(photos)
    cache = json.loads((out / "landmarks.json").read_text())["entries"]
    assert len(cache) == len(photos) + 2


def test_landmark_cache_skips_the_detector(face_folder, tmp_path, monkeypatch):
    cache = LandmarkCache(tmp_path / "lm.json")
    photo = next(face_folder.glob("*/*.jpg"))
    lms, error = cache.get(photo)
    cache.save()
    assert error is None and lms[0].shape == (68, 2)
    import mofrr_core.data.landmark_cache as module

    monkeypatch.setattr(module, "detect_faces", lambda rgb: pytest.fail("detector ran on a cached photo"))
    again, _ = LandmarkCache(tmp_path / "lm.json").get(photo)
    assert np.allclose(again[0], lms[0], atol=0.01)


def test_landmark_caches_sharing_a_file_do_not_collide(face_folder, tmp_path):
    """Another process's temporary file in the way (here a folder of that name) must not stop a save."""
    photo = next(face_folder.glob("*/*.jpg"))
    (tmp_path / "lm.tmp").mkdir()
    cache = LandmarkCache(tmp_path / "lm.json")
    cache.get(photo)
    cache.save()
    assert LandmarkCache(tmp_path / "lm.json").entries == cache.entries
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm.json", "lm.tmp"]


def test_on_the_fly_pairs(face_folder, photos, tmp_path):
    data = RetouchPairs(face_folder, size=64, kind="mixed", seed=1, cache=tmp_path / "lm.json", progress=False)
    assert len(data) == len(photos)
    item = data[0]
    assert item["retouched"].shape == item["original"].shape == (3, 64, 64)
    assert item["flow"].shape == (2, 64, 64)
    assert 2 <= int(item["presence"].sum()) <= 4
    assert ((item["degree"] > 0) == (item["presence"] > 0)).all()
    same = data[0]
    assert all((same[k] == item[k]).all() for k in item)
    data.set_epoch(1)
    assert not (data[0]["retouched"] == item["retouched"]).all()
    single = RetouchPairs(face_folder, size=64, kind="eye_enlargement", cache=tmp_path / "lm.json", progress=False)
    assert single[1]["presence"].tolist() == [0, 0, 0, 1]


def test_capture_augmentation_varies_the_original_per_pair(face_folder, tmp_path):
    common = dict(size=64, kind="whitening", seed=1, cache=tmp_path / "lm.json", progress=False)
    plain, augmented = RetouchPairs(face_folder, **common), RetouchPairs(face_folder, augment=1.0, **common)
    changed = [not (augmented[(0, i)]["original"] == plain[(0, i)]["original"]).all() for i in range(len(plain))]
    assert any(changed)
    item = augmented[(0, 0)]
    assert all((augmented[(0, 0)][k] == item[k]).all() for k in item)
    assert 0 <= float(item["original"].min()) and float(item["original"].max()) <= 1
    rng = np.random.default_rng(3)
    face = plain.crop(0)[0]
    looks = [capture_augment(face, np.random.default_rng(s)) for s in range(8)]
    assert all(look.shape == face.shape and look.dtype == np.float32 for look in looks)
    assert len({round(float(np.abs(look - face).mean()), 4) for look in looks}) > 4
    assert (capture_augment(face, rng, chance=0.0) == face).all()


def test_delivery_compresses_only_the_retouched_face(face_folder, tmp_path):
    common = dict(size=128, kind="face_slimming", seed=1, cache=tmp_path / "lm.json", progress=False)
    plain, delivered = RetouchPairs(face_folder, **common), RetouchPairs(face_folder, deliver=1.0, **common)
    for i in range(len(plain)):
        a, b = plain[(0, i)], delivered[(0, i)]
        assert all((a[k] == b[k]).all() for k in a if k != "retouched")
        change = (a["retouched"] - b["retouched"]).abs().mean().item()
        assert 0 < change < 0.02  # a JPEG's loss, not another retouch
