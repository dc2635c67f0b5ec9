"""Metrics shared by training (validation, SSIM loss) and evaluation.

Images are (B, 3, H, W) tensors in [0, 1]; every image metric returns one value per image.
Detection metrics take (N, T) found / true presence and return one value per column (type).
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F


def psnr(restored: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (peak 1), capped at 100 dB for identical images."""
    mse = (restored.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-10))).clamp_max(100.0)


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, device=like.device, dtype=like.dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(restored: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004: Gaussian 11 x 11 window, sigma 1.5, valid area), per image."""
    x, y = restored.float(), target.float()
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma, channels, x)

    def blur(z):
        return F.conv2d(z, kernel, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(dim=1)


def detection_scores(found: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall and F1 per column of (N, T) boolean detections against (N, T) truth."""
    found, truth = found.float(), truth.float()
    tp = (found * truth).sum(0)
    return {
        "precision": tp / found.sum(0).clamp_min(1),
        "recall": tp / truth.sum(0).clamp_min(1),
        "f1": 2 * tp / (found.sum(0) + truth.sum(0)).clamp_min(1),
    }


def best_thresholds(probabilities: torch.Tensor, truth: torch.Tensor, low: float = 0.02, high: float = 0.98) -> torch.Tensor:
    """Per column of (N, T) probabilities, the threshold with the highest F1 against (N, T) truth:
    midpoints between neighbouring probabilities, the one nearest 0.5 among ties, within [low, high]."""
    chosen = []
    for p, t in zip(probabilities.detach().float().cpu().T, truth.bool().cpu().T):
        values = torch.unique(p)
        candidates = torch.cat([(values[1:] + values[:-1]) / 2, torch.tensor([0.5])]).clamp(low, high)
        found = p[:, None] >= candidates[None, :]
        scores = detection_scores(found, t[:, None].expand_as(found))["f1"]
        best = scores == scores.max()
        chosen.append(candidates[best][(candidates[best] - 0.5).abs().argmin()])
    return torch.stack(chosen)


def roc_auc(scores: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per column of (N, T) scores, the area under the ROC curve against (N, T) truth: the odds that a present
    case scores above an absent one (ties count half); NaN for a column without both."""
    areas = []
    for s, t in zip(scores.detach().float().cpu().T, truth.bool().cpu().T):
        above = (s[t][:, None] > s[~t][None, :]).float() + 0.5 * (s[t][:, None] == s[~t][None, :]).float()
        areas.append(above.mean() if t.any() and (~t).any() else torch.tensor(float("nan")))
    return torch.stack(areas)


def bootstrap_interval(
    statistic: Callable[[torch.Tensor], torch.Tensor], clusters: Sequence, draws: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Percentile interval of `statistic(rows)` (one value per column, rows indexing N cases) over resamplings of
    whole clusters with replacement: the cases of one cluster (one face's versions) share its luck, so the
    interval says how far the figure could move with other faces, not other draws of the same faces."""
    names = list(dict.fromkeys(clusters))
    members = [torch.tensor([i for i, c in enumerate(clusters) if c == name]) for name in names]
    rng = np.random.default_rng(seed)
    values = torch.stack([statistic(torch.cat([members[k] for k in rng.integers(len(names), size=len(names))])) for _ in range(draws)])
    tail = (1 - level) / 2
    return values.nanquantile(tail, dim=0), values.nanquantile(1 - tail, dim=0)
