"""Detection, FFHQ alignment and seamless paste-back on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mofrr_core.align import align_face, paste_back, photo_mask, photo_roi
from mofrr_core.errors import NoFaceError
from mofrr_core.face_pipeline import align_faces, edit_faces
from mofrr_core.faces import detect_faces
from mofrr_core.imageio import Photo, load_photo


def test_one_face_per_photo_with_landmarks_in_box(photos):
    for path in photos:
        faces = detect_faces(load_photo(path).rgb)
        assert len(faces) == 1
        x0, y0, x1, y1 = faces[0].box
        lm = faces[0].landmarks
        assert lm.shape == (68, 2)
        inside = (lm[:, 0] > x0 - 0.2 * (x1 - x0)) & (lm[:, 0] < x1 + 0.2 * (x1 - x0)) & (lm[:, 1] > y0) & (lm[:, 1] < y1 + 0.3 * (y1 - y0))
        assert inside.all()


def test_two_faces_found_largest_first(two_face_photo):
    faces = detect_faces(load_photo(two_face_photo).rgb)
    assert len(faces) == 2
    assert faces[0].width >= faces[1].width
    assert abs(faces[0].box[0] - faces[1].box[0]) > 300


def test_alignment_puts_eyes_where_ffhq_does(photos):
    for path in photos:
        for size in (256, 512):
            face = align_faces(load_photo(path).rgb, size=size)[0]
            right, left = face.landmarks[36:42].mean(0) / size, face.landmarks[42:48].mean(0) / size
            assert abs(right[1] - left[1]) < 0.01, "eyes level"
            assert 0.3 < right[0] < 0.42 and 0.58 < left[0] < 0.7
            assert 0.4 < right[1] < 0.52


def test_paste_back_of_unmodified_crop_is_a_round_trip(photos):
    """The pipeline carries only the edit back: an unmodified crop leaves the photo bit-identical.

    Replacing the region by the resampled crop instead loses only interpolation error.
    """
    for path in photos:
        rgb = load_photo(path).rgb
        face = align_faces(rgb, size=512)[0]
        assert np.array_equal(paste_back(rgb, face.crop, face.alignment, reference=face.crop), rgb)
        back = paste_back(rgb, face.crop, face.alignment)
        roi = photo_roi(face.alignment)
        mask = np.zeros(rgb.shape[:2], np.float32)
        mask[roi[1] : roi[3], roi[0] : roi[2]] = photo_mask(face.alignment, 0.06, roi)
        assert np.array_equal(back[mask <= 0], rgb[mask <= 0])
        inside = np.abs(back - rgb).mean(axis=2)[mask >= 1]
        assert inside.mean() < 2 / 255, inside.mean() * 255


def test_paste_back_has_no_visible_seam(photos):
    rgb = load_photo(photos[0]).rgb
    face = align_faces(rgb, size=256)[0]
    out = paste_back(rgb, face.crop - 0.1, face.alignment, feather=0.08, reference=face.crop)
    change, unclipped = (out - rgb).mean(axis=2), rgb.min(axis=2) > 0.1
    assert np.abs(change[unclipped]).max() == pytest.approx(0.1, abs=1e-3)
    step_x = np.abs(np.diff(change, axis=1))[unclipped[:, 1:] & unclipped[:, :-1]]
    step_y = np.abs(np.diff(change, axis=0))[unclipped[1:] & unclipped[:-1]]
    assert max(step_x.max(), step_y.max()) < 0.01, "the edit fades in over the feather band, no hard edge"


def test_edit_faces_on_rgba_photo_keeps_alpha(photos):
    photo = load_photo(photos[0])
    alpha = np.full(photo.rgb.shape[:2], 0.5, np.float32)
    out, faces = edit_faces(Photo(photo.rgb, alpha), lambda face, i: np.clip(face.crop * 0.9, 0, 1))
    assert len(faces) == 1 and out.alpha is alpha
    assert np.abs(out.rgb - photo.rgb).max() > 0.02


def test_no_face_is_a_clear_error():
    blank = np.full((300, 300, 3), 0.5, np.float32)
    with pytest.raises(NoFaceError, match="blank.png: no face found"):
        align_faces(blank, name="blank.png")


def test_grayscale_photo_is_aligned(photos, tmp_path):
    Image.open(photos[0]).convert("L").save(tmp_path / "g.png")
    faces = align_faces(load_photo(tmp_path / "g.png").rgb)
    assert len(faces) == 1 and faces[0].crop.shape[2] == 3


def test_downscaled_alignment_matches(photos):
    rgb = load_photo(photos[0]).rgb
    lm = detect_faces(rgb)[0].landmarks
    big, _ = align_face(rgb, lm, 256)
    assert big.shape == (256, 256, 3) and np.isfinite(big).all()


def test_cnn_detector_is_the_fallback(photos, monkeypatch):
    import mofrr_core.faces as faces_module

    rgb = load_photo(photos[0]).rgb
    hog_face = detect_faces(rgb)[0]
    models = dict(faces_module._dlib_models())
    models["hog"] = type("NoHog", (), {"run": staticmethod(lambda *a: ([], [], []))})()
    monkeypatch.setattr(faces_module, "_dlib_models", lambda: models)
    faces = detect_faces(rgb)
    assert len(faces) == 1 and faces[0].detector == "cnn"
    assert np.abs(faces[0].landmarks - hog_face.landmarks).mean() < 0.05 * hog_face.width
    assert detect_faces(rgb, use_cnn=False) == []
