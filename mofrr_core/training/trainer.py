"""The training loop every stage shares: accelerate, EMA, resumable checkpoints, logs, validation.

Per run folder (`<out>/<component key>/`): `checkpoint/` (the latest resumable state), `best/`
(the EMA weights with the best validation score, a diffusers model folder), `log.csv` (losses
and validation scores by step) and `loss.png`. Every random draw (which pairs, which retouch,
crops, noise, timesteps) is a function of (seed, step), so a run interrupted and resumed from
its last checkpoint ends in exactly the state of an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from ..charts import line_chart
from ..data import PairFolder, RetouchPairs
from .recipe import Recipe
from .stages import Stage
from .state import load_state, save_state


class StepBatches(Sampler):
    """Batches of (epoch, index) keys for steps start..steps-1: a fresh permutation per epoch.

    Under several processes each one takes its share (rank::world) of every batch.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start: int, steps: int, rank: int = 0, world: int = 1):
        if size == 0:
            raise ValueError("no training faces: the face folders hold no photo with a detectable face")
        self.size, self.batch_size, self.seed = size, min(batch_size, size), seed
        self.start, self.steps, self.rank, self.world = start, steps, rank, world
        self.per_epoch = size // self.batch_size

    def __len__(self) -> int:
        return self.steps - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order, order_epoch = None, -1
        for step in range(self.start, self.steps):
            epoch, k = divmod(step, self.per_epoch)
            if epoch != order_epoch:
                order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))
                order_epoch = epoch
            keys = [(epoch, int(i)) for i in order[k * self.batch_size : (k + 1) * self.batch_size]]
            yield keys[self.rank :: self.world]


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of one training step (noise, timesteps, crops), independent of any earlier draw."""
    return torch.Generator(device).manual_seed(seed * 1_000_003 + step)


def learning_rate(base: float, step: int, steps: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of `base` at the last step."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class TrainResult:
    """What a finished run left: its folder, last step, best validation score and last losses."""

    folder: Path
    step: int
    best_score: float
    last_losses: dict[str, float]


class Trainer:
    """Train one stage as its recipe says; `run()` starts or resumes and returns a TrainResult.

    `max_steps` stops this call after that many steps (with a checkpoint), for time-boxed sessions.
    """

    def __init__(self, stage: Stage, recipe: Recipe, progress: bool = True, accelerator: Accelerator | None = None, max_steps: int | None = None):
        self.stage, self.recipe, self.settings = stage, recipe, stage.settings
        self.max_steps = max_steps
        self.folder = recipe.runs / stage.key
        self.progress = progress
        self.accelerator = accelerator or Accelerator(mixed_precision=recipe.mixed_precision)

    def _datasets(self) -> tuple[Dataset, Dataset]:
        recipe, kind = self.recipe, self.stage.kind
        val_kind = self.settings.val_kind or kind
        if recipe.pairs:
            return PairFolder(recipe.pairs, recipe.size, kind, "train"), PairFolder(recipe.pairs, recipe.size, val_kind, "val")
        common = dict(
            faces=self.settings.faces or recipe.faces, size=recipe.size, val_fraction=recipe.val_fraction,
            cache=recipe.runs / "landmarks.json", progress=self.progress,
        )
        train = RetouchPairs(seed=recipe.seed, split="train", kind=kind, augment=self.settings.augment, deliver=self.settings.deliver, **common)
        return train, RetouchPairs(seed=10_000 + recipe.seed, split="val", kind=val_kind, **common)

    def _val_batches(self, val: Dataset, device: torch.device) -> list[dict]:
        count = min(self.settings.val_faces, len(val))
        # spread over the whole split, so every source folder (listed one after another) is represented
        items = [val[(0, i * len(val) // count)] for i in range(count)]
        size = self.settings.batch_size
        return [
            {k: torch.stack([item[k] for item in items[i : i + size]]).to(device) for k in items[0]}
            for i in range(0, count, size)
        ]

    def _log_rows(self, start: int) -> list[dict]:
        path = self.folder / "log.csv"
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            return [row for row in csv.DictReader(f) if int(row["step"]) <= start]

    def _write_log(self, rows: list[dict]) -> None:
        names = list(dict.fromkeys(k for row in rows for k in row))
        with open(self.folder / "log.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)
        losses = [k for k in names if k.startswith("loss")]
        series = {k: [(float(r["step"]), float(r[k])) for r in rows if r.get(k) not in (None, "")] for k in losses}
        line_chart(series, self.folder / "loss.png", f"{self.stage.key}: training losses")

    def _validate(self, model, ema: EMAModel, batches: list[dict], device: torch.device) -> dict[str, float]:
        """Validation scores of the EMA weights (the training weights are put back afterwards)."""
        ema.store(model.parameters())
        ema.copy_to(model.parameters())
        model.train(False)
        scores = self.stage.validate(model, batches, torch.Generator(device).manual_seed(1234))
        return scores

    def _restore_training_weights(self, model, ema: EMAModel) -> None:
        ema.restore(model.parameters())
        model.train(True)

    def run(self) -> TrainResult:
        acc, settings, seed = self.accelerator, self.settings, self.recipe.seed
        device = acc.device
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        model = self.stage.build().to(device)
        model.train(True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
        ema = EMAModel(model.parameters(), decay=settings.ema_decay, use_ema_warmup=True, power=2 / 3)
        info = {"step": 0, "best_score": -math.inf}
        if (self.folder / "checkpoint" / "state.json").is_file():
            info = load_state(self.folder / "checkpoint", model, ema, optimizer)
        start = int(info["step"])
        ema.to(device)
        model, optimizer = acc.prepare(model, optimizer)
        raw = acc.unwrap_model(model)
        self.stage.prepare(raw, device)
        rows = self._log_rows(start)
        last: dict[str, float] = {}
        if start >= settings.steps:
            return TrainResult(self.folder, start, float(info["best_score"]), last)
        train, val = self._datasets()
        self.stage.start(raw, train, fresh=start == 0, progress=self.progress and acc.is_main_process)
        val_batches = self._val_batches(val, device)
        end = settings.steps if self.max_steps is None else min(settings.steps, start + self.max_steps)
        batches = StepBatches(len(train), settings.batch_size, seed, start, end, acc.process_index, acc.num_processes)
        loader = DataLoader(train, batch_sampler=batches, num_workers=settings.num_workers, persistent_workers=False)
        bar = tqdm(total=settings.steps, initial=start, desc=self.stage.key, unit="step", disable=not self.progress or not acc.is_main_process)
        began = time.time()
        for step, batch in zip(range(start, end), loader):
            generator = step_generator(seed, step, device)
            batch = self.stage.train_batch({k: v.to(device) for k, v in batch.items()}, generator)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(settings.lr, step, settings.steps, settings.warmup)
            with acc.autocast():
                losses = self.stage.losses(model, batch, generator)
            total = sum(self.stage.weights[name] * value for name, value in losses.items())
            if not torch.isfinite(total):
                raise FloatingPointError(f"{self.stage.key}: the loss became {float(total)} at step {step}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            acc.backward(total)
            optimizer.step()
            ema.step(raw.parameters())
            done = step + 1
            last = {"loss": float(total.detach()), **{f"loss_{k}": float(v.detach()) for k, v in losses.items()}}
            bar.set_postfix(loss=f"{last['loss']:.4f}")
            bar.update(1)
            row = None
            if done % settings.log_every == 0 or done == settings.steps:
                row = {"step": done, "seconds": round(time.time() - began, 1), "lr": optimizer.param_groups[0]["lr"], **last}
            if done % settings.val_every == 0 or done == settings.steps:
                scores = self._validate(raw, ema, val_batches, device)
                row = {**(row or {"step": done}), **scores}
                score = next(iter(scores.values()))
                if score > info["best_score"] and acc.is_main_process:
                    info["best_score"] = score
                    self.stage.calibrate(raw)
                    raw.save_pretrained(self.folder / "best")
                self._restore_training_weights(raw, ema)
                bar.write(f"{self.stage.key} step {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
            if row is not None:
                rows.append(row)
            if (done % settings.checkpoint_every == 0 or done == end) and acc.is_main_process:
                info["step"] = done
                save_state(self.folder / "checkpoint", raw, ema, optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer, info)
                self._write_log(rows)
        bar.close()
        return TrainResult(self.folder, end, float(info["best_score"]), last)
