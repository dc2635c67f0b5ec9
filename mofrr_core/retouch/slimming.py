"""Face slimming: a liquify-style squeeze that pulls the lower jaw and cheeks toward the face axis."""

from __future__ import annotations

import numpy as np

from .geometry import FaceFrame, smoothstep
from .op import WarpOp


class FaceSlimming(WarpOp):
    name = "face_slimming"

    def sample_params(self, rng):
        top = float(rng.uniform(0.1, 0.3))
        bottom = float(rng.uniform(1.0, 1.12))
        inner = float(rng.uniform(1.05, 1.2))
        return {
            "amount": float(rng.uniform(0.07, 0.12)),
            "profile": float(rng.uniform(0.0, 1.2)),
            "top": top,
            "full": top + float(rng.uniform(0.25, 0.4)),
            "bottom": bottom,
            "fade": bottom + float(rng.uniform(0.25, 0.4)),
            "inner": inner,
            "outer": inner + float(rng.uniform(0.45, 0.7)),
        }

    def flow(self, lm, shape, strength, params):
        frame = FaceFrame.from_landmarks(lm)
        h, v = frame.coords(*shape)
        vertical = smoothstep((v - params["top"]) / (params["full"] - params["top"])) * (
            1 - smoothstep((v - params["bottom"]) / (params["fade"] - params["bottom"]))
        )
        lateral = 1 - smoothstep((np.abs(h) - params["inner"]) / (params["outer"] - params["inner"]))
        push = h * np.minimum(np.abs(h), params["inner"]) ** params["profile"]
        shift = (strength / 100.0) * params["amount"] * frame.half_width * push * vertical * lateral
        return np.stack([shift * frame.side[0], shift * frame.side[1]], axis=-1).astype(np.float32)
