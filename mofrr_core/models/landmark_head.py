"""The router's landmark head: warp retouches read from where the 68 face landmarks sit.

Face slimming narrows the jaw and eye enlargement widens the eyes relative to the rest of the
face. The image heads learned those warps on the training photos but not in a way that carried
to photos from other sources; a linear read of the landmark layout does carry (see the README's
Evaluation section for the figures).
"""

from __future__ import annotations

import torch

from .face_regions import fill_missing
from .landmark_frames import LEFT_EYE, RIGHT_EYE
from .reading_head import ReadingHead

LANDMARKS = 68


def eye_frame(landmarks: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) landmarks in pixels -> (B, 136) in a frame where the eye centres sit at (-1, 0) and (1, 0)."""
    right, left = landmarks[:, RIGHT_EYE].mean(1), landmarks[:, LEFT_EYE].mean(1)
    half = (left - right) / 2
    scale = half.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    cos, sin = (half / scale).unbind(-1)
    centred = (landmarks - ((left + right) / 2)[:, None]) / scale[:, None]
    x, y = centred.unbind(-1)
    return torch.stack([x * cos[:, None] + y * sin[:, None], y * cos[:, None] - x * sin[:, None]], dim=-1).flatten(1)


class LandmarkHead(ReadingHead):
    """Warps (presence, degree) from the 68 landmarks in the eye frame."""

    size = 2 * LANDMARKS

    def measure(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        found = torch.isfinite(landmarks).flatten(1).all(dim=1)
        return fill_missing(eye_frame(torch.nan_to_num(landmarks.float())), found), found
