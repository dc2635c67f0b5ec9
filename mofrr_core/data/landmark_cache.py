"""A JSON cache of detected landmarks per photo, so datasets never run the detector twice."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import MofrrError
from ..faces import detect_faces
from ..imageio import load_photo


class LandmarkCache:
    """Landmarks of every face per photo file, invalidated when the file's size or mtime changes."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        if self.path and self.path.is_file():
            self.entries = json.loads(self.path.read_text()).get("entries", {})
        self._dirty = 0

    @staticmethod
    def _stamp(photo: Path) -> list[int]:
        st = photo.stat()
        return [st.st_size, st.st_mtime_ns]

    def get(self, photo: str | Path) -> tuple[list[np.ndarray], str | None]:
        """(landmarks of each face, error message or None), detecting on a miss."""
        photo = Path(photo).resolve()
        key, stamp = str(photo), self._stamp(photo)
        entry = self.entries.get(key)
        if entry is None or entry["stamp"] != stamp:
            try:
                faces = [f.landmarks.round(2).tolist() for f in detect_faces(load_photo(photo).rgb)]
                entry = {"stamp": stamp, "faces": faces, "error": None if faces else "no face found"}
            except MofrrError as exc:
                entry = {"stamp": stamp, "faces": [], "error": str(exc)}
            self.entries[key] = entry
            self._dirty += 1
            if self._dirty >= 50:
                self.save()
        return [np.asarray(f, dtype=np.float32) for f in entry["faces"]], entry["error"]

    def save(self) -> None:
        """Write the cache atomically (a crash never leaves a half-written file), through a temporary file of
        its own so that processes sharing one cache (data-loader workers, `accelerate launch`) never collide."""
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        with os.fdopen(fd, "w") as out:
            json.dump({"version": 1, "entries": self.entries}, out)
        os.replace(tmp, self.path)
        self._dirty = 0
