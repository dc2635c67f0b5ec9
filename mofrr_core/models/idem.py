"""IDEM, the iterative degree estimation module of WaveFRR (about 1.2 k parameters).

Re-run at every sampling step on the current x_t, it turns the predicted degree and the
timestep into a per-pixel prior R, fed to the denoiser and supervised toward
(clean LL_LL - retouched LL_LL).
"""

import torch
from torch import nn


class ChannelGate(nn.Module):
    """Blend two maps with a sigmoid channel-attention weight w: w * a + (1 - w) * b.

    The weight sums a local branch (1x1 convs per pixel) and a global branch (the same on
    the spatially pooled inputs), both reading the two maps side by side.
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.local_branch = self._branch(channels, hidden)
        self.global_branch = nn.Sequential(nn.AdaptiveAvgPool2d(1), self._branch(channels, hidden))

    @staticmethod
    def _branch(channels: int, hidden: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(2 * channels, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, channels, 1))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        both = torch.cat([a, b], dim=1)
        weight = torch.sigmoid(self.local_branch(both) + self.global_branch(both))
        return weight * a + (1 - weight) * b


class IDEM(nn.Module):
    """prior y0 = DSConv([degree map, timestep map]); F = gate(LL_LL, y0); R = gate(x_t, x_t + F)."""

    def __init__(self, channels: int = 3, hidden: int = 28):
        super().__init__()
        self.prior = nn.Sequential(
            nn.Conv2d(2, 2, 3, padding=1, groups=2),
            nn.Conv2d(2, channels, 1),
        )
        self.condition_gate = ChannelGate(channels, hidden)
        self.output_gate = ChannelGate(channels, hidden)

    def forward(
        self, ll_ll: torch.Tensor, x_t: torch.Tensor, degree_map: torch.Tensor, time_map: torch.Tensor
    ) -> torch.Tensor:
        """All maps share (B, ., H, W); the degree and time maps have one channel each."""
        y0 = self.prior(torch.cat([degree_map, time_map], dim=1))
        fused = self.condition_gate(ll_ll, y0)
        return self.output_gate(x_t, x_t + fused)
