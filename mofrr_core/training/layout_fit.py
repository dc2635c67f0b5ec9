"""Training the router's face-layout CNN (`FaceLayoutNet`) before the rest of the router trains.

Like the reading heads, it learns from training faces measured once: each face's 64 px layout (`layout`),
then epochs over those. Negatives that carry a type in `CONFUSERS` count `CONFUSER_WEIGHT` times: a
smoothing filter flattens the face's shading, which the CNN otherwise takes for whitening (on the
evaluation faces, 8 of its 17 false alarms were smoothed faces; 2 of 8 with them weighted 3 times).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm import tqdm

from ..errors import MofrrError
from ..faces import crop_landmarks
from ..models.face_layout_net import FaceLayoutNet
from ..types import RETOUCH_TYPES
from .fit_pairs import item_batches

CONFUSERS = {"whitening": ("smoothing",)}
CONFUSER_WEIGHT = 3.0


@torch.no_grad()
def mean_template(dataset: Dataset, count: int = 512, batch_size: int = 32) -> list[float]:
    """The mean of dlib's 68 landmarks on the first `count` retouched training crops, in units of the crop's side."""
    found = []
    for items in item_batches(dataset, min(count, len(dataset)), batch_size, progress=False):
        images = torch.stack([item["retouched"] for item in items])
        found.append(crop_landmarks(images) / images.shape[-1])
    points = torch.cat(found)
    points = points[torch.isfinite(points).flatten(1).all(dim=1)]
    if not len(points):
        raise MofrrError("face layouts: dlib found no face in the first training crops; train at a larger size (recipe `size`)")
    return points.mean(0).flatten().tolist()


@torch.no_grad()
def measure_layouts(net: FaceLayoutNet, dataset: Dataset, count: int, batch_size: int = 32, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The layouts (N, 3, size, size), half precision, and presence (N, 4) of `count` training faces (items (epoch, i), epoch after epoch)."""
    layouts, presence = [], []
    for items in item_batches(dataset, count, batch_size, "face layouts: measuring", progress):
        layouts.append(net.layout(torch.stack([item["retouched"] for item in items])).half().cpu())
        presence.append(torch.stack([item["presence"] for item in items]))
    return torch.cat(layouts), torch.cat(presence)


def sample_weights(presence: torch.Tensor, types: Sequence[str]) -> torch.Tensor:
    """(N, len(types)) loss weights: `CONFUSER_WEIGHT` where a type is absent and one of its confusers present."""
    weights = torch.ones(len(presence), len(types))
    for k, name in enumerate(types):
        for confuser in CONFUSERS.get(name, ()):
            hard = (presence[:, RETOUCH_TYPES.index(name)] == 0) & (presence[:, RETOUCH_TYPES.index(confuser)] > 0)
            weights[hard, k] = CONFUSER_WEIGHT
    return weights


def fit_layout_net(
    net: FaceLayoutNet,
    dataset: Dataset,
    count: int,
    types: Sequence[str],
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train `net`'s presence reads of `types` on `count` measured training faces (binary cross-entropy of each
    member, AdamW, one-cycle schedule, random mirror images); returns each epoch's mean loss. A net without a face template
    gets the training crops' mean landmarks first."""
    if not net.face.any():
        net.set_template(mean_template(dataset))
    layouts, presence = measure_layouts(net, dataset, count, progress=progress)
    target = presence[:, [RETOUCH_TYPES.index(t) for t in types]]
    weights = sample_weights(presence, types)
    generator = torch.Generator().manual_seed(seed)
    device = net.face.device
    per_epoch = max(1, len(layouts) // batch_size)
    optimizer = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * per_epoch)
    net.train()
    losses = []
    bar = tqdm(total=epochs * per_epoch, desc="face layouts: training", unit="step", disable=not progress)
    for _ in range(epochs):
        order, total = torch.randperm(len(layouts), generator=generator), 0.0
        for k in range(per_epoch):
            batch = order[k * batch_size : (k + 1) * batch_size]
            x = layouts[batch].to(device).float()
            mirror = (torch.rand(len(batch), generator=generator) < 0.5).to(device)
            x[mirror] = x[mirror].flip(-1)
            w = weights[batch].to(device)
            each = net.read_each(x).float()
            truth = target[batch].to(device).expand_as(each)
            loss = (F.binary_cross_entropy_with_logits(each, truth, reduction="none") * w).sum() / (w.sum() * len(each))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        losses.append(total / per_epoch)
    bar.close()
    net.train(False)
    return losses
