"""Reading an uploaded, pasted or webcam image with the core's photo reader (EXIF, alpha, 16-bit, clear errors)."""

from __future__ import annotations

from pathlib import Path

from mofrr_core.errors import ImageError
from mofrr_core.imageio import Photo, load_photo


def load_upload(payload, what: str) -> tuple[Photo, str]:
    """(Photo, file name) of an image payload: Gradio's file data (events run with preprocess=False) or a path.

    The events skip Gradio's own decoding so that a file that is not an image gets the core's
    clear message instead of a Pillow traceback.
    """
    path = payload.get("path") if isinstance(payload, dict) else payload
    if not path:
        raise ImageError(f"no {what} given; upload, paste or take a photo (or click an example)")
    name = (payload.get("orig_name") if isinstance(payload, dict) else None) or Path(path).name
    return load_photo(path), name
