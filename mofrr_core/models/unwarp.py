"""Unwarp: the geometric part of warp retouches undone by flow templates anchored on the face landmarks.

Face slimming and eye enlargement move pixels. Restorers that repaint pixels (the WaveFRR experts,
the merger) gained almost nothing on them (see the README's Evaluation section), while putting
the pixels back where they were restores the face outright. A warp tool moves every face by the
same pattern, placed by the face's landmarks and scaled by its slider, so the displacement that
undoes it is a template in a landmark frame times the degree. The templates are fitted to
training pairs (`mofrr_core.training.unwarp_fit`) and trained further on the restored photos;
all zeros, they are the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config

from ..types import check_type
from .base import Model
from .landmark_frames import Frame, frame_grid, pixel_grid, read_template, routed_subset

FRAMES = {
    "face_slimming": (Frame("face", (-2.2, 2.2), (-0.4, 1.8)),),
    "eye_enlargement": (Frame("right_eye", (-1.0, 1.0), (-1.0, 1.0)), Frame("left_eye", (-1.0, 1.0), (-1.0, 1.0))),
}


class Unwarp(Model):
    """Inverse-flow templates, one per frame of each warp type in `warp_types`, each `grid` x `grid` cells of
    (across, along) displacements in frame units at degree 1.

    `routed_types` (default: all of `warp_types`): the warps the pipeline undoes wherever the router finds
    them; the others only where the caller names them (`experts=`), for a router whose read of a warp is
    not reliable enough: undoing a warp that is not there costs more than undoing one that is gains.
    """

    @register_to_config
    def __init__(self, warp_types: tuple[str, ...] = ("face_slimming", "eye_enlargement"), grid: int = 48,
                 routed_types: tuple[str, ...] | None = None):
        super().__init__()
        for t in warp_types:
            if check_type(t) not in FRAMES:
                raise ValueError(f"{t} is not a warp; unwarp handles {', '.join(FRAMES)}")
        self.retouch_types = tuple(warp_types)
        self.routed = routed_subset(self.retouch_types, routed_types)
        self.frames = [(t, frame) for t in warp_types for frame in FRAMES[t]]
        self.templates = torch.nn.Parameter(torch.zeros(len(self.frames), 2, grid, grid))

    def flow(self, landmarks: torch.Tensor, degrees: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The inverse flow (B, H, W, 2) in pixels, float32, for faces with these (B, 68, 2) landmarks (NaN: no face, no
        flow) and (B, len(warp_types)) degrees: the restored face at y is the retouched one at y + flow(y)."""
        found = torch.isfinite(landmarks).flatten(1).all(dim=1)
        landmarks = torch.nan_to_num(landmarks.float())
        degrees = degrees.float() * found[:, None]
        total = landmarks.new_zeros(len(landmarks), height, width, 2)
        for k, (t, frame) in enumerate(self.frames):
            grid, axes = frame_grid(landmarks, frame, height, width)
            shift = torch.einsum("bchw,bcd->bhwd", read_template(self.templates[k].float(), grid), axes)
            total = total + shift * degrees[:, self.retouch_types.index(t), None, None, None]
        return total

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) retouched crops in [0, 1] -> the crops with the warps of these degrees undone; pixel
        positions are computed in float32 whatever the dtype (in bf16 they would be a pixel apart at 256)."""
        height, width = images.shape[-2:]
        flow = self.flow(landmarks.to(images.device), degrees.to(images.device), height, width)
        pixels = pixel_grid(height, width, flow) + flow
        grid = 2 * pixels / torch.tensor([max(width - 1, 1), max(height - 1, 1)], device=images.device) - 1
        out = F.grid_sample(images.float(), grid, mode="bicubic", padding_mode="reflection", align_corners=True)
        return out.clamp(0, 1).to(images.dtype)
