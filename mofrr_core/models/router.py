"""The MoFRR router (ResNet-MAM): which retouch types an image shows, and how strongly.

A half-width ResNet-50 feeds a multi-granularity attention module (MAM) that pools every
stage to its own grid, so fine early features keep spatial detail and late ones stay
global. One head per retouch type gives a presence logit and a degree in [0, 1]. For the types in
`shape_types`, presence is read from the face's 68 landmarks instead (`LandmarkHead`), for those in
`colour_types` from the skin's colour against the rest of the face (`ColourHead`), and for those in
`texture_types` from the fine detail of each face region and the landmark layout (`TextureHead`),
when the caller passes the landmarks (`landmarks`, from `find_landmarks`); without them, the image
heads decide. With `colour_layout` (a `FaceLayoutNet` configuration), the colour head adds that CNN's read
of the face's colour layout to its own.

A warp's resampling trace lives at the scale the warp was applied at: a beautify app warps the whole
photo, and shrinking a large face to the working size blurs the trace away. So the types in
`native_types` are read again on the face at its own resolution when the caller passes it (`reading`)
and it is at least `native_scale` times the working side, against their own presence thresholds
(`native_thresholds`, calibrated on such reads), since faces read at that scale look softer.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

from ..faces import crop_landmarks
from ..types import RETOUCH_TYPES, check_type
from .base import Model
from .colour_head import ColourHead
from .face_layout_net import FaceLayoutNet
from .landmark_head import LandmarkHead
from .ops import highpass, to_signed
from .resnet import ResNet
from .texture_head import TextureHead


@dataclass
class RouterOutput(BaseOutput):
    """Per-type scores, columns in `RETOUCH_TYPES` order, each (B, 4). `read` (bools) marks where a head that
    reads landmarks decided (its types, on faces where dlib found the landmarks); there `logits` and `degrees`
    are that head's, elsewhere the image heads' (`image_logits`, `image_degrees`)."""

    logits: torch.Tensor
    probabilities: torch.Tensor
    degrees: torch.Tensor
    image_logits: torch.Tensor
    image_degrees: torch.Tensor
    read: torch.Tensor


class MultiGranularityFusion(nn.Module):
    """MAM: pool stage i to `pool_sizes[i]`^2 cells, project to `width`, concatenate, Linear+SiLU."""

    def __init__(self, stage_channels: tuple[int, ...], pool_sizes: tuple[int, ...], width: int, fusion_width: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), nn.Conv2d(channels, width, 1), nn.Flatten())
            for channels, size in zip(stage_channels, pool_sizes)
        )
        self.fusion = nn.Sequential(nn.Linear(width * sum(s * s for s in pool_sizes), fusion_width), nn.SiLU())

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.fusion(torch.cat([branch(f) for branch, f in zip(self.branches, features)], dim=1))


class Router(Model):
    """Multi-label retouch detector. Reference: ResNet-50 layout at half width, input 512."""

    @register_to_config
    def __init__(
        self,
        stage_depths: tuple[int, ...] = (3, 4, 6, 3),
        base_width: int = 32,
        mam_width: int = 64,
        pool_sizes: tuple[int, ...] = (8, 4, 2, 1),
        fusion_width: int = 512,
        highpass_gain: float = 0.0,
        shape_types: tuple[str, ...] = (),
        colour_types: tuple[str, ...] = (),
        texture_types: tuple[str, ...] = (),
        native_types: tuple[str, ...] = (),
        native_thresholds: tuple[float, ...] = (),
        native_scale: float = 2.0,
        colour_layout: dict | None = None,
    ):
        super().__init__()
        self.shape_columns = [RETOUCH_TYPES.index(check_type(t)) for t in shape_types]
        self.colour_columns = [RETOUCH_TYPES.index(check_type(t)) for t in colour_types]
        self.texture_columns = [RETOUCH_TYPES.index(check_type(t)) for t in texture_types]
        if len(set(self.reader_columns)) < len(self.reader_columns):
            raise ValueError("a retouch type can be in one of shape_types, colour_types and texture_types, not several")
        self.native_columns = [RETOUCH_TYPES.index(check_type(t)) for t in native_types]
        if not set(self.native_columns) <= set(self.reader_columns) or len(native_thresholds) != len(native_types):
            raise ValueError("native_types must be types a reading head decides, each with one of native_thresholds")
        self.landmark_head = LandmarkHead(len(shape_types)) if shape_types else None
        layout = FaceLayoutNet(**colour_layout, outputs=len(colour_types)) if colour_layout and colour_types else None
        self.colour_head = ColourHead(len(colour_types), layout) if colour_types else None
        self.texture_head = TextureHead(len(texture_types)) if texture_types else None
        self.backbone = ResNet(tuple(stage_depths), base_width, in_channels=6 if highpass_gain > 0 else 3)
        self.mam = MultiGranularityFusion(self.backbone.stage_channels, tuple(pool_sizes), mam_width, fusion_width)
        self.heads = nn.ModuleList(nn.Linear(fusion_width, 2) for _ in RETOUCH_TYPES)

    @property
    def reader_columns(self) -> list[int]:
        """The columns decided by the heads that read landmarks (when they are found)."""
        return self.shape_columns + self.colour_columns + self.texture_columns

    @property
    def uses_landmarks(self) -> bool:
        return bool(self.reader_columns)

    def readers(self) -> list[tuple[list[int], nn.Module]]:
        """(columns, head) of the heads that read landmarks, each deciding its columns."""
        heads = ((self.shape_columns, self.landmark_head), (self.colour_columns, self.colour_head), (self.texture_columns, self.texture_head))
        return [(c, h) for c, h in heads if h is not None]

    def find_landmarks(self, images: torch.Tensor) -> torch.Tensor | None:
        """What `forward` takes as `landmarks` for these crops: dlib's, found on the crops themselves (as in
        training, whether or not the caller aligned them from landmarks of its own); None without a head that reads them."""
        return crop_landmarks(images) if self.uses_landmarks else None

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor | None = None, reading: Sequence[torch.Tensor] | None = None) -> RouterOutput:
        """`images` (B, 3, H, W) in [0, 1]; `landmarks` (B, 68, 2) in their pixels, NaN rows where none were found;
        `reading`: the same faces at their own resolution ((3, h, w) crops of any sizes), for `native_types`."""
        x = to_signed(images)
        if self.config.highpass_gain > 0:
            x = torch.cat([x, self.config.highpass_gain * highpass(x)], dim=1)
        fused = self.mam(self.backbone(x))
        scores = torch.stack([head(fused) for head in self.heads], dim=1)
        logits = image_logits = scores[..., 0]
        degrees = image_degrees = torch.sigmoid(scores[..., 1])
        read = torch.zeros_like(logits, dtype=torch.bool)
        if self.uses_landmarks and landmarks is not None:
            landmarks, logits, degrees = landmarks.to(images.device), image_logits.clone(), image_degrees.clone()
            for columns, head in self.readers():
                presence, degree, found = head(images, landmarks)
                found = found.to(images.device)[:, None]
                logits[:, columns] = torch.where(found, presence.to(logits.dtype), image_logits[:, columns])
                degrees[:, columns] = torch.where(found, degree.to(degrees.dtype), image_degrees[:, columns])
                read[:, columns] = found
            if reading is not None and self.native_columns:
                self._read_natively(images, reading, logits)
        return RouterOutput(logits, torch.sigmoid(logits), degrees, image_logits, image_degrees, read)

    def _read_natively(self, images: torch.Tensor, reading: Sequence[torch.Tensor], logits: torch.Tensor) -> None:
        """Replace the logits of `native_types` by their reading heads' reads of the crops in `reading` at least
        `native_scale` times the working side (where dlib finds the face there), against `native_thresholds`."""
        rows = [i for i, crop in enumerate(reading) if min(crop.shape[-2:]) >= self.config.native_scale * min(images.shape[-2:])]
        if not rows:
            return
        crops = [reading[i] for i in rows]
        landmarks = crop_landmarks(crops).to(images.device)
        shifts = {c: math.log(t / (1 - t)) for c, t in zip(self.native_columns, self.config.native_thresholds)}
        index = torch.tensor(rows, device=images.device)
        for columns, head in self.readers():
            native = [(k, c) for k, c in enumerate(columns) if c in shifts]
            if native:
                presence, _, found = head(crops, landmarks)
                found = found.to(images.device)
                for k, c in native:
                    logits[index, c] = torch.where(found, presence[:, k].to(logits.dtype) - shifts[c], logits[index, c])

    @torch.no_grad()
    def move_thresholds(self, thresholds: Sequence[float]) -> None:
        """Make presence probability `thresholds[i]` of type i read as 0.5 from now on, by shifting
        that head's presence bias, so gating at 0.5 uses thresholds calibrated on validation faces.
        For the types a head that reads landmarks decides, that head's bias moves."""
        deciders = {column: (head.linear.bias, i) for columns, head in self.readers() for i, column in enumerate(columns)}
        for column, (head, threshold) in enumerate(zip(self.heads, thresholds)):
            bias, index = deciders.get(column, (head.bias, 0))
            bias[index] -= math.log(float(threshold) / (1 - float(threshold)))
