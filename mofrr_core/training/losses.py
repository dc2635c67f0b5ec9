"""Training losses of the spec: photo (L1 + 1 - SSIM), total variation, focal BCE."""

import torch
import torch.nn.functional as F

from ..metrics import ssim


def photo_loss(restored: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + (1 - SSIM) on images in [0, 1], the spec's "hybrid" photo loss."""
    return F.l1_loss(restored, target) + (1 - ssim(restored, target)).mean()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring values along the last two axes."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def focal_bce(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.5, gamma: float = 1.0) -> torch.Tensor:
    """Binary focal loss (the reference router's: alpha 0.5, gamma 1); gamma 0 and alpha 0.5 is BCE / 2."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_true = torch.exp(-bce)
    weight = alpha * targets + (1 - alpha) * (1 - targets)
    return (weight * (1 - p_true) ** gamma * bce).mean()
