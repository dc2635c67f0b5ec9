"""Reading and writing photos in any common layout as float RGB arrays, without losing alpha or depth."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

MIN_SIDE = 32
MAX_PIXELS = 64_000_000


@dataclass
class Photo:
    """An RGB image in [0, 1] (H, W, 3, float32) with its alpha plane and source bit depth kept."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports it."""
        return self.rgb.shape[1], self.rgb.shape[0]


def _check_size(width: int, height: int, name: str) -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{name}: image is {width}x{height}, too small to hold a face; use a photo of at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: image is {width}x{height} ({width * height / 1e6:.0f} MP), over the {MAX_PIXELS / 1e6:.0f} MP limit; downscale it first"
        )


def check_values(arr: np.ndarray, name: str) -> None:
    """Refuse pixel values that no photo has (NaN, infinities, outside [0, 1]) instead of clipping them silently."""
    if not np.isfinite(arr).all():
        raise ImageError(f"{name}: the image holds NaN or infinite values; give finite values in [0, 1]")
    if arr.size and (arr.min() < -1e-3 or arr.max() > 1 + 1e-3):
        raise ImageError(f"{name}: values span [{arr.min():.3g}, {arr.max():.3g}]; scale the image to [0, 1]")


def check_still(img: Image.Image, name: str) -> None:
    """Refuse animations and multi-page files: restoring only their first frame would be a silently partial answer.

    MPO (a camera JPEG with previews or a depth map after the photo) is a still photo and passes.
    """
    frames = getattr(img, "n_frames", 1)
    if frames > 1 and img.format != "MPO":
        raise ImageError(f"{name}: the image is animated ({frames} frames) or has several pages; save the one frame to restore as a PNG or JPEG")


def _to_array(img: Image.Image, name: str = "image") -> tuple[np.ndarray, np.ndarray | None, int]:
    """Convert any PIL mode to float RGB in [0, 1], the alpha plane (or None) and the bit depth."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        depth = 16 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else 8
        arr = arr / (65535.0 if depth == 16 else 255.0)
        check_values(arr, name)
        return np.repeat(arr[..., None], 3, axis=2), None, depth
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        check_values(arr, name)
        return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=2), None, 32
    alpha = None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float32)[..., 3] / 255.0
        img = rgba
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return rgb, alpha, 8


def _is_deep_colour(img: Image.Image) -> bool:
    """True for 16-bit colour files, which PIL would silently reduce to 8 bits."""
    return img.mode in ("RGB", "RGBA") and any(";16" in str(tile.args) for tile in img.tile)


_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.swapaxes(a, 0, 1)[::-1],
}


def _read_deep_colour(path: Path, orientation: int) -> Photo:
    """Read a 16-bit colour file with OpenCV and apply its EXIF orientation."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageError(f"{path.name}: the 16-bit image could not be decoded; re-export it")
    arr = _ORIENT.get(orientation, lambda a: a)(raw.astype(np.float32) / 65535.0)
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    return Photo(rgb=np.ascontiguousarray(arr[..., 2::-1]), alpha=alpha, bit_depth=16)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def pil_to_photo(img: Image.Image, name: str = "image") -> Photo:
    """A Photo of a PIL image (EXIF orientation applied), after the size and still-image checks; one clear
    ImageError when its pixels cannot be decoded."""
    _check_size(*img.size, name)
    check_still(img, name)
    try:
        img = ImageOps.exif_transpose(img)
        img.load()
        rgb, alpha, depth = _to_array(img, name)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: the image file is damaged or truncated ({_one_line(exc)}); re-export or re-download it") from None
    return Photo(rgb=np.ascontiguousarray(rgb), alpha=alpha, bit_depth=depth)


def load_photo(path: str | Path) -> Photo:
    """Read a photo: EXIF orientation applied; grayscale, palette, CMYK, RGBA and 16-bit handled.

    Every file that cannot be used (missing, not an image, truncated, a decompression bomb, too small
    or too large, animated) is one ImageError line naming the file and what to do.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ImageError(f"{path}: no such file; check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if _is_deep_colour(img):
                    _check_size(*img.size, name)
                    check_still(img, name)
                    return _read_deep_colour(path, img.getexif().get(0x0112, 1))
                return pil_to_photo(img, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image has too many pixels to decode safely; downscale it below {MAX_PIXELS / 1e6:.0f} MP") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read); give a PNG, JPEG, WebP or TIFF photo") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: the image file is damaged or truncated ({_one_line(exc)}); re-export or re-download it") from None


def save_photo(photo: Photo, path: str | Path) -> Path:
    """Write a Photo losslessly (PNG unless the suffix says otherwise), keeping alpha and 16-bit depth."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    planes = [photo.rgb] if photo.alpha is None else [photo.rgb, photo.alpha[..., None]]
    arr = np.clip(np.concatenate(planes, axis=2), 0, 1)
    if photo.bit_depth == 16 and path.suffix.lower() in (".png", ".tif", ".tiff"):
        bgr = arr[..., [2, 1, 0, 3][: arr.shape[2]]]
        if not cv2.imwrite(str(path), np.round(bgr * 65535).astype(np.uint16)):
            raise ImageError(f"{path}: could not write the image; check the folder is writable")
        return path
    mode = "RGB" if arr.shape[2] == 3 else "RGBA"
    Image.fromarray(np.round(arr * 255).astype(np.uint8), mode).save(path)
    return path


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] to uint8, rounding."""
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files under `folder`, recursively, in a stable order."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
