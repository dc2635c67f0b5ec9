"""Eye enlargement: a smooth radial magnification centred on each eye."""

from __future__ import annotations

import numpy as np

from .geometry import eye_centres, eye_width
from .op import WarpOp


class EyeEnlargement(WarpOp):
    name = "eye_enlargement"

    def sample_params(self, rng):
        return {
            "amount": float(rng.uniform(0.3, 0.45)),
            "radius": float(rng.uniform(1.1, 1.6)),
            "aspect": float(rng.uniform(0.75, 1.0)),
        }

    def flow(self, lm, shape, strength, params):
        ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        flow = np.zeros((*shape, 2), np.float32)
        right, left = eye_centres(lm)
        spacing = float(np.hypot(*(left - right)))
        axis = (left - right) / spacing
        amount = (strength / 100.0) * params["amount"]
        for centre, is_right in ((right, True), (left, False)):
            radius = min(params["radius"] * eye_width(lm, is_right), 0.5 * spacing)
            dx, dy = xs - centre[0], ys - centre[1]
            along = (dx * axis[0] + dy * axis[1]) / radius
            across = (dy * axis[0] - dx * axis[1]) / (radius * params["aspect"])
            falloff = np.clip(1 - (along**2 + across**2), 0, None) ** 2
            flow[..., 0] -= amount * falloff * dx
            flow[..., 1] -= amount * falloff * dy
        return flow
