"""Degree estimator: how strongly one retouch type was applied (one model per type).

It classifies the degree level 1..5 (level = 1 + min(4, floor(strength / 20)), strength in
[0, 100]) and reports the soft level sum(softmax(logits) * level). The continuous degree in
[0, 1] is the centre of that level's strength bin over 100, (soft_level - 0.5) / 5, so the
levels 1..5 map to 0.1, 0.3, 0.5, 0.7, 0.9: strength / 100 up to the bin width.
"""

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

from ..types import check_type, level_to_degree
from .base import Model
from .ops import to_signed
from .resnet import ResNet


@dataclass
class DegreeOutput(BaseOutput):
    """`logits` (B, levels); `level` (B,) soft level in [1, levels]; `degree` (B,) in [0, 1]."""

    logits: torch.Tensor
    level: torch.Tensor
    degree: torch.Tensor


class DegreeEstimator(Model):
    """ResNet classifier over degree levels (reference: ResNet-50, input 512, 5 levels)."""

    @register_to_config
    def __init__(
        self,
        retouch_type: str = "whitening",
        stage_depths: tuple[int, ...] = (3, 4, 6, 3),
        base_width: int = 64,
        num_levels: int = 5,
    ):
        super().__init__()
        check_type(retouch_type)
        self.backbone = ResNet(tuple(stage_depths), base_width)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(self.backbone.stage_channels[-1], num_levels))

    def level_to_degree(self, level: torch.Tensor) -> torch.Tensor:
        """Degree in [0, 1] of a (soft) level: the centre of its strength bin, over 100."""
        return level_to_degree(level, self.config.num_levels)

    def forward(self, images: torch.Tensor) -> DegreeOutput:
        """`images` (B, 3, H, W) in [0, 1]."""
        logits = self.head(self.backbone(to_signed(images))[-1])
        levels = torch.arange(1, self.config.num_levels + 1, device=logits.device, dtype=logits.dtype)
        level = (torch.softmax(logits, dim=-1) * levels).sum(dim=-1)
        return DegreeOutput(logits=logits, level=level, degree=self.level_to_degree(level))
