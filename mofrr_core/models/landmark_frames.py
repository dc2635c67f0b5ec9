"""Landmark frames: templates placed on a face by its 68 landmarks, read at every pixel (and their adjoint).

A retouch tool applies the same pattern to every face, placed by the face's features. A template
in a frame anchored on the landmarks (origin, axes and scale from them) describes such a pattern
for any face; `read_template` samples it over an image, `splat_template` spreads per-pixel values
back into its cells by the same bilinear weights (what least-squares fits of a template need).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..types import RETOUCH_TYPES

RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)


@dataclass(frozen=True)
class Frame:
    """Where a template sits: `anchor` names the landmark frame ("face", "right_eye", "left_eye"),
    `across` / `along` its extent in frame units."""

    anchor: str
    across: tuple[float, float]
    along: tuple[float, float]


def anchor_axes(landmarks: torch.Tensor, anchor: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 68, 2) landmarks -> origin, unit `across` and `along` axes (B, 2) and the two frame scales (B, 2).

    "face": origin at the nose bridge, along toward the chin in nose-to-chin lengths, across in half jaw
    widths; "right_eye" / "left_eye": origin at that eye's centre, across along the line of the eyes,
    both in half eye spacings, so the two eyes' frames meet between the eyes."""
    right, left = landmarks[:, RIGHT_EYE].mean(1), landmarks[:, LEFT_EYE].mean(1)
    if anchor == "face":
        down = landmarks[:, 8] - landmarks[:, 27]
        length = down.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        along = down / length
        half_width = (landmarks[:, 15] - landmarks[:, 1]).norm(dim=-1, keepdim=True) / 2
        across = torch.stack([-along[:, 1], along[:, 0]], dim=-1)
        return landmarks[:, 27], across, along, torch.cat([half_width, length], dim=-1).clamp_min(1e-6)
    line = left - right
    half = line.norm(dim=-1, keepdim=True).clamp_min(1e-6) / 2
    across = line / (2 * half)
    along = torch.stack([-across[:, 1], across[:, 0]], dim=-1)
    return (right if anchor == "right_eye" else left), across, along, half.expand(-1, 2)


def pixel_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(H, W, 2) pixel coordinates (x, y) on `like`'s device and dtype."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=like.device, dtype=like.dtype), torch.arange(width, device=like.device, dtype=like.dtype), indexing="ij"
    )
    return torch.stack([xs, ys], dim=-1)


def frame_grid(landmarks: torch.Tensor, frame: Frame, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame's sampling grid over the image (B, H, W, 2) in [-1, 1] (its extent), and the (across, along)
    pixel vectors (B, 2, 2) of one frame unit."""
    origin, across, along, scale = anchor_axes(landmarks, frame.anchor)
    offset = pixel_grid(height, width, landmarks)[None] - origin[:, None, None]
    coords = []
    for axis, unit, (low, high) in ((across, scale[:, 0], frame.across), (along, scale[:, 1], frame.along)):
        local = (offset * axis[:, None, None]).sum(-1) / unit[:, None, None]
        coords.append(2 * (local - low) / (high - low) - 1)
    return torch.stack(coords, dim=-1), torch.stack([across * scale[:, :1], along * scale[:, 1:]], dim=1)


def read_template(template: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """A (C, G, G) template read at a (B, H, W, 2) grid -> (B, C, H, W); zero outside its extent."""
    return F.grid_sample(template[None].expand(len(grid), -1, -1, -1), grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def splat_template(grid: torch.Tensor, values: torch.Tensor, cells: int) -> torch.Tensor:
    """The adjoint of `read_template`: (B, C, H, W) values summed into (C, cells, cells) by the reading weights."""
    template = torch.zeros(values.shape[1], cells, cells, dtype=values.dtype, device=values.device, requires_grad=True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad((read_template(template, grid) * values).sum(), template)
    return grad


def routed_subset(types: tuple[str, ...], routed_types: tuple[str, ...] | None) -> tuple[str, ...]:
    """The types a pipeline undoes wherever its router finds them (default: all); checked against `types`."""
    unknown = set(routed_types or ()) - set(types)
    if unknown:
        raise ValueError(f"routed_types {sorted(unknown)} are not among {list(types)}")
    return tuple(types if routed_types is None else routed_types)


def select_amounts(model, amounts: torch.Tensor, routed_only: bool) -> torch.Tensor:
    """(B, n): the degrees `model` (unwarp, unsmooth) undoes its n `retouch_types` at, out of (B, 4) per-type
    amounts in RETOUCH_TYPES order (0: not chosen); with `routed_only` (the router chose), 0 for the types
    it undoes only where they are named."""
    columns = [RETOUCH_TYPES.index(t) for t in model.retouch_types]
    keep = torch.tensor([not routed_only or t in model.routed for t in model.retouch_types], device=amounts.device)
    return amounts[:, columns] * keep
