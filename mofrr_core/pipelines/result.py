"""What a restoration pipeline returns: the restored photo and, per face, what was found and done."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..align import Alignment
from ..imageio import Photo


@dataclass
class FaceResult:
    """One restored face.

    `box`: (x0, y0, x1, y1) in photo pixels, None for an aligned input. `routing`: router
    presence probability per retouch type; `active`: the experts that ran; `degrees`: the
    degree in [0, 1] per type, the router's reading head's where one read the face, else the
    degree estimator's (all three empty for FRRffusion); `undone`: the types MoFRR's unsmooth and unwarp
    undid (moved back, or the skin's detail restored) before the experts ran.
    `expert_outputs`: what each network produced, by retouch type, "shared" or "fmar", as crops
    of the input crop's size. `input_crop` / `restored_crop`: the aligned crop before and after
    (H x W x 3 float32 in [0, 1]). `alignment`: the photo -> crop transform (None when aligned).
    """

    box: tuple[float, float, float, float] | None
    routing: dict[str, float]
    active: list[str]
    degrees: dict[str, float]
    expert_outputs: dict[str, np.ndarray]
    restored_crop: np.ndarray
    input_crop: np.ndarray
    alignment: Alignment | None = None
    undone: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary (no pixel data)."""
        return {
            "box": None if self.box is None else [float(v) for v in self.box],
            "crop_size": list(self.input_crop.shape[:2]),
            "routing": dict(self.routing),
            "active": list(self.active),
            "degrees": dict(self.degrees),
            "undone": list(self.undone),
            **({"alignment": self.alignment.to_dict()} if self.alignment is not None else {}),
        }


@dataclass
class RestorationResult:
    """The restored photo (same size as the input; alpha and bit depth kept) and per-face details.

    `timings`: seconds per stage; when a list of images is restored in one call the stages run
    batched, so every result of that call carries the timings of the whole call.
    `options`: the call's settings (aligned, size and, for MoFRR, gating, threshold, experts).
    """

    image: Photo
    faces: list[FaceResult]
    method: str
    steps: int
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready report; routing, active and degrees are those of the first (largest) face."""
        first = self.faces[0].to_dict() if self.faces else {"routing": {}, "active": [], "degrees": {}, "undone": []}
        return {
            "method": self.method,
            "steps": self.steps,
            "seed": self.seed,
            **self.options,
            "routing": first["routing"],
            "active": first["active"],
            "degrees": first["degrees"],
            "undone": first["undone"],
            "faces": [face.to_dict() for face in self.faces],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
