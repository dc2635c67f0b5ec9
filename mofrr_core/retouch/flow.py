"""Dense displacement fields for the warp ops: apply, compose, invert and check them.

A flow `f` (H, W, 2) means retouched(x) = original(x + f(x)).
"""

from __future__ import annotations

import cv2
import numpy as np


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def apply_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Resample `image` through `flow` (bicubic; exact where the flow is zero)."""
    xs, ys = _grid(*flow.shape[:2])
    out = cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    return np.clip(out, 0, 1) if image.ndim == 3 else out


def _sample(flow: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return cv2.remap(flow, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def compose(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The flow of warping by `first`, then by `second`."""
    xs, ys = _grid(*second.shape[:2])
    return second + _sample(first, xs + second[..., 0], ys + second[..., 1])


def invert(flow: np.ndarray, iterations: int = 30) -> np.ndarray:
    """The inverse flow g with original(y) = retouched(y + g(y)), by fixed-point iteration."""
    xs, ys = _grid(*flow.shape[:2])
    inv = -flow.copy()
    for _ in range(iterations):
        inv = -_sample(flow, xs + inv[..., 0], ys + inv[..., 1])
    return inv


def move_points(points: np.ndarray, flow: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Where points of the original land in the warped image (solve y + f(y) = p)."""
    pts = points.astype(np.float32)
    out = pts.copy()
    for _ in range(iterations):
        f = cv2.remap(flow, out[:, 0].reshape(1, -1), out[:, 1].reshape(1, -1), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
        out = pts - f
    return out


def jacobian_determinant(flow: np.ndarray) -> np.ndarray:
    """Per-pixel Jacobian determinant of x -> x + f(x); positive everywhere means no folding."""
    dfx_dy, dfx_dx = np.gradient(flow[..., 0])
    dfy_dy, dfy_dx = np.gradient(flow[..., 1])
    return (1 + dfx_dx) * (1 + dfy_dy) - dfx_dy * dfy_dx
