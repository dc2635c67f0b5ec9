"""The interface every retouch operation implements, and the shared body of the warp operations."""

from __future__ import annotations

import numpy as np

from .flow import apply_flow


class RetouchOp:
    """One beautify operation with a strength slider in [0, 100] and hidden, randomised parameters.

    The hidden parameters (kernel sizes, falloffs, colour curves) are drawn once per call by
    `sample_params`, so that the same seed gives the same filter at every strength.
    """

    name: str = ""

    def sample_params(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def apply(self, rgb: np.ndarray, lm: np.ndarray, strength: float, params: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the retouched image and, for warps, the flow (H, W, 2) that made it."""
        raise NotImplementedError


class WarpOp(RetouchOp):
    """An operation that only moves pixels, through a smooth invertible flow."""

    def flow(self, lm: np.ndarray, shape: tuple[int, int], strength: float, params: dict) -> np.ndarray:
        raise NotImplementedError

    def apply(self, rgb, lm, strength, params):
        flow = self.flow(lm, rgb.shape[:2], strength, params)
        return apply_flow(rgb, flow), flow
