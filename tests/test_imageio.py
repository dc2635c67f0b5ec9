"""Photo loading in every layout users send, and a clear error for every unusable file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from mofrr_core.errors import ImageError
from mofrr_core.imageio import Photo, load_photo, save_photo

from conftest import EXAMPLES


@pytest.fixture(scope="module")
def rgb8():
    return np.asarray(Image.open(sorted(EXAMPLES.glob("*.jpg"))[0]).convert("RGB"))


def test_grayscale_palette_cmyk(tmp_path, rgb8):
    img = Image.fromarray(rgb8)
    for mode in ("L", "P", "CMYK"):
        path = tmp_path / f"x_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        img.convert(mode).save(path)
        photo = load_photo(path)
        assert photo.rgb.shape == rgb8.shape and photo.rgb.dtype == np.float32
        assert 0 <= photo.rgb.min() and photo.rgb.max() <= 1
        assert np.abs(photo.rgb.mean() * 255 - rgb8.mean()) < 12, mode


def test_rgba_alpha_is_kept(tmp_path, rgb8):
    alpha = np.tile(np.linspace(0, 255, rgb8.shape[1], dtype=np.uint8), (rgb8.shape[0], 1))
    Image.fromarray(np.dstack([rgb8, alpha]), "RGBA").save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert photo.alpha is not None and np.allclose(photo.alpha * 255, alpha, atol=0.5)
    save_photo(photo, tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png"))[..., 3], alpha)


def test_16bit_colour_and_gray_keep_depth(tmp_path, rgb8):
    deep = rgb8.astype(np.uint16) * 257 + 100
    cv2.imwrite(str(tmp_path / "c.png"), deep[..., ::-1])
    photo = load_photo(tmp_path / "c.png")
    assert photo.bit_depth == 16 and np.allclose(photo.rgb * 65535, deep, atol=0.5)
    save_photo(photo, tmp_path / "d.png")
    assert np.array_equal(cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)[..., ::-1], deep)
    cv2.imwrite(str(tmp_path / "g.png"), deep[..., 0])
    gray = load_photo(tmp_path / "g.png")
    assert gray.bit_depth == 16 and np.allclose(gray.rgb[..., 1] * 65535, deep[..., 0], atol=0.5)


def test_exif_orientation_applied(tmp_path, rgb8):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb8).save(tmp_path / "r.jpg", exif=exif, quality=95)
    photo = load_photo(tmp_path / "r.jpg")
    assert photo.rgb.shape[:2] == (rgb8.shape[1], rgb8.shape[0])
    upright = np.rot90(photo.rgb, 1)
    assert np.abs(upright * 255 - rgb8).mean() < 4


def test_a_missing_file_is_one_clear_line(tmp_path):
    """Every unusable file of the bad-input corpus (tests/bad_inputs.py) is checked through each path: see the
    test_corpus_through_* tests."""
    with pytest.raises(ImageError) as info:
        load_photo(tmp_path / "missing.png")
    assert str(info.value) == f"{tmp_path / 'missing.png'}: no such file; check the path"


def test_save_roundtrip_8bit(tmp_path, rgb8):
    save_photo(Photo(rgb8.astype(np.float32) / 255), tmp_path / "o.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), rgb8)
