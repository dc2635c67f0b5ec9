"""What the app runs with: weights per method, device, example photos and its limits, from flags or
environment variables.

Flags win over environment variables, which suit a Hugging Face Space (set them as Space variables).

Limits, so that the server stays up and answers under load:
- CONCURRENCY: one job at a time; the face detector (dlib) must not be used by two threads at once,
  and a restoration already uses every core (or the GPU). Others wait in a queue of MAX_QUEUE;
  beyond that a request is turned away at once with "queue is full".
- max upload (MOFRR_MAX_UPLOAD_MB, default 50 MB): larger files are refused while uploading,
  before anything is decoded. Images are also refused above 64 MP (`mofrr_core.imageio`).
- per-request time limit (MOFRR_REQUEST_TIMEOUT, default 120 s of work, not counting the wait in the
  queue): a restoration is stopped at the next sampling step (a retouch at the next face) with a
  clear error, and the next request runs normally.
- uploaded and produced files are deleted CACHE_AGE_S after they were made (checked every
  CACHE_SWEEP_S), so disk use stays bounded however long the server runs.
- MALLOC_ARENAS: glibc malloc arenas of the server process. Gradio runs each request on one of up to
  40 pool threads and every thread's own arena keeps the memory of the images it handled, so without a
  cap the server's memory grows with the number of threads used (measured: +120 MB over 12 rounds of
  20 clients). With 2 arenas it still crept +6 to +8 MB a round (+65 MB over rounds 3 to 12), so each
  request also hands its freed heap pages back to the OS (`malloc.release_freed`): +1 to +3 MB a round
  (+5 and +28 MB over rounds 3 to 12 in two runs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mofrr_core.weights import METHODS

WEIGHTS_ENV = {method: f"MOFRR_WEIGHTS_{method.upper()}" for method in METHODS}
DEVICE_ENV = "MOFRR_DEVICE"
EXAMPLES_ENV = "MOFRR_EXAMPLES"
MAX_UPLOAD_ENV = "MOFRR_MAX_UPLOAD_MB"
TIMEOUT_ENV = "MOFRR_REQUEST_TIMEOUT"
CONCURRENCY = 1
MAX_QUEUE = 32
MAX_UPLOAD_MB = 50.0
REQUEST_TIMEOUT_S = 120.0
CACHE_AGE_S = CACHE_SWEEP_S = 3600
MALLOC_ARENAS = 2
# the repository's examples/ when run from a checkout, else ./examples (a Space's layout)
EXAMPLE_DIRS = (Path(__file__).resolve().parent.parent / "examples", Path("examples"))


def _positive(value: float | None, env: Mapping[str, str], name: str, default: float) -> float:
    """`value`, else the environment variable `name`, else `default`; a clear error for anything but a positive number."""
    chosen = value if value is not None else env.get(name) or default
    try:
        number = float(chosen)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise SystemExit(f"error: {name}: expected a positive number, got {chosen!r}")
    return number


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Settings:
    """`weights`: method -> pipeline folder or Hub repo id (None: the bundled weights).
    `examples`: folder of clean example photos with their retouched versions in `retouched/` (None: no examples).
    `max_upload_mb`: the largest upload accepted; `timeout_s`: seconds of work allowed per request."""

    weights: Mapping[str, str | None]
    device: str
    examples: Path | None
    max_upload_mb: float = MAX_UPLOAD_MB
    timeout_s: float = REQUEST_TIMEOUT_S

    @classmethod
    def load(cls, weights: Mapping[str, str | None] | None = None, device: str | None = None, examples: str | None = None,
             max_upload_mb: float | None = None, timeout_s: float | None = None, env=os.environ):
        """Settings from the given values, else the environment, else the defaults."""
        given = weights or {}
        chosen = {m: given.get(m) or env.get(WEIGHTS_ENV[m]) or None for m in METHODS}
        folder = examples or env.get(EXAMPLES_ENV)
        found = Path(folder) if folder else next((d for d in EXAMPLE_DIRS if d.is_dir()), None)
        upload = _positive(max_upload_mb, env, MAX_UPLOAD_ENV, MAX_UPLOAD_MB)
        timeout = _positive(timeout_s, env, TIMEOUT_ENV, REQUEST_TIMEOUT_S)
        return cls(chosen, device or env.get(DEVICE_ENV) or default_device(), found, upload, timeout)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def example_photos(self, retouched: bool) -> list[str]:
        """The clean example photos, or their retouched versions (`retouched/*.png`)."""
        if self.examples is None:
            return []
        pattern = "retouched/*.png" if retouched else "*.jpg"
        return [str(p) for p in sorted(self.examples.glob(pattern))]
