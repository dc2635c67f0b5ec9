"""Where the app writes what it serves: a fresh folder per request under one work folder; folders older than
`keep_s` are deleted as new ones are made, so disk use stays bounded however long the server runs.

Every image goes out as a PNG file written here, never as an array: Gradio writes arrays into its cache
under a name made from their content, in place, so two requests producing the same image at the same time
(two users clicking the same example) rewrite the file while it is being downloaded and one download
breaks. Files are copied into the cache atomically instead.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from mofrr_core.imageio import Photo, save_photo

from .settings import CACHE_AGE_S


class Outputs:
    """Fresh per-request folders under `workdir`, each deleted `keep_s` seconds after it was made."""

    def __init__(self, workdir: str | Path, keep_s: float = CACHE_AGE_S):
        self.workdir, self.keep_s = Path(workdir), keep_s

    def folder(self) -> Path:
        """A new empty folder, after deleting the expired ones."""
        cutoff = time.time() - self.keep_s
        for old in self.workdir.iterdir():
            try:
                expired = old.stat().st_mtime < cutoff
            except OSError:  # already gone
                continue
            if expired:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.workdir))


def png(rgb: np.ndarray, path: Path) -> str:
    """Write an RGB image in [0, 1] as an 8-bit PNG (for display) and return its path."""
    return str(save_photo(Photo(np.asarray(rgb, dtype=np.float32)), path))
