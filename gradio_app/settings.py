"""What the app runs with: weights per method, device and example photos, from flags or environment variables.

Flags win over environment variables, which suit a Hugging Face Space (set them as Space variables).
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
# the repository's examples/ when run from a checkout, else ./examples (a Space's layout)
EXAMPLE_DIRS = (Path(__file__).resolve().parent.parent / "examples", Path("examples"))


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Settings:
    """`weights`: method -> pipeline folder or Hub repo id (None: the bundled weights).
    `examples`: folder of clean example photos with their retouched versions in `retouched/` (None: no examples)."""

    weights: Mapping[str, str | None]
    device: str
    examples: Path | None

    @classmethod
    def load(cls, weights: Mapping[str, str | None] | None = None, device: str | None = None, examples: str | None = None, env=os.environ):
        """Settings from the given values, else the environment, else the defaults."""
        given = weights or {}
        chosen = {m: given.get(m) or env.get(WEIGHTS_ENV[m]) or None for m in METHODS}
        folder = examples or env.get(EXAMPLES_ENV)
        found = Path(folder) if folder else next((d for d in EXAMPLE_DIRS if d.is_dir()), None)
        return cls(chosen, device or env.get(DEVICE_ENV) or default_device(), found)

    def example_photos(self, retouched: bool) -> list[str]:
        """The clean example photos, or their retouched versions (`retouched/*.png`)."""
        if self.examples is None:
            return []
        pattern = "retouched/*.png" if retouched else "*.jpg"
        return [str(p) for p in sorted(self.examples.glob(pattern))]
