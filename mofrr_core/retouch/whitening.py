"""Skin whitening: lightening and de-yellowing inside the soft skin mask, as beautify apps do."""

from __future__ import annotations

import cv2
import numpy as np

from .op import RetouchOp
from .skin import skin_mask


class Whitening(RetouchOp):
    name = "whitening"

    def sample_params(self, rng):
        return {
            "lift": float(rng.uniform(0.25, 0.6)),
            "deyellow": float(rng.uniform(0.25, 0.6)),
            "desaturate_red": float(rng.uniform(0.0, 0.25)),
            "pink": float(rng.uniform(0.0, 3.0)),
            "forehead": float(rng.uniform(0.45, 0.65)),
            "feather": float(rng.uniform(0.01, 0.025)),
            "neck": bool(rng.random() < 0.7),
        }

    def apply(self, rgb, lm, strength, params):
        s = strength / 100.0
        lab = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2Lab)
        light = lab[..., 0] / 100.0
        lab[..., 0] = 100.0 * (1 - (1 - light) ** (1 + params["lift"] * s))
        lab[..., 1] = lab[..., 1] * (1 - params["desaturate_red"] * s) + params["pink"] * s
        lab[..., 2] = lab[..., 2] * (1 - params["deyellow"] * s)
        white = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)
        mask = skin_mask(rgb, lm, params["forehead"], params["feather"], params["neck"])[..., None]
        return rgb + mask * (white - rgb), None
