"""Small PNG charts drawn with Pillow (loss curves, grouped bars), so no plotting library is needed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
WIDTH, HEIGHT, MARGIN = 800, 450, 60


def _frame(title: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 15), title, fill="black")
    draw.rectangle([MARGIN, MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN], outline="#999999")
    return image, draw


def _legend(draw: ImageDraw.ImageDraw, names: Sequence[str]) -> None:
    for i, name in enumerate(names):
        x = MARGIN + 10 + 150 * (i % 4)
        y = HEIGHT - MARGIN + 20 + 14 * (i // 4)
        draw.rectangle([x, y + 2, x + 10, y + 10], fill=PALETTE[i % len(PALETTE)])
        draw.text((x + 14, y), name, fill="black")


def _y_axis(draw: ImageDraw.ImageDraw, low: float, high: float, label: str) -> None:
    for k in range(5):
        value = low + (high - low) * k / 4
        y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * k / 4
        draw.line([MARGIN - 4, y, MARGIN, y], fill="black")
        draw.text((4, y - 6), f"{value:.3g}", fill="black")
    draw.text((4, MARGIN - 20), label, fill="black")


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, title: str, log_y: bool = True) -> None:
    """One line per named series of (x, y) points; `log_y` plots log10(y) for positive losses."""
    image, draw = _frame(title)
    points = {k: [(x, math.log10(y) if log_y else y) for x, y in v if not log_y or y > 0] for k, v in series.items()}
    every = [p for v in points.values() for p in v]
    if every:
        xs, ys = [p[0] for p in every], [p[1] for p in every]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
        _y_axis(draw, y0, y1, "log10 loss" if log_y else "value")
        draw.text((WIDTH - MARGIN - 60, HEIGHT - MARGIN + 4), f"step {x1:g}", fill="black")
        for i, values in enumerate(points.values()):
            coords = [
                (MARGIN + (WIDTH - 2 * MARGIN) * (x - x0) / (x1 - x0), HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (y - y0) / (y1 - y0))
                for x, y in values
            ]
            if len(coords) > 1:
                draw.line(coords, fill=PALETTE[i % len(PALETTE)], width=2)
    _legend(draw, list(points))
    image.save(path)


def bar_chart(groups: Mapping[str, Mapping[str, float]], path: str | Path, title: str, label: str) -> None:
    """Grouped bars: one group per outer key, one bar per inner key (same inner keys in every group)."""
    image, draw = _frame(title)
    names = list(dict.fromkeys(k for g in groups.values() for k in g))
    values = [v for g in groups.values() for v in g.values()]
    if values:
        low, high = min(0.0, min(values)), max(0.0, max(values)) or 1.0
        _y_axis(draw, low, high, label)
        zero = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (0 - low) / (high - low)
        draw.line([MARGIN, zero, WIDTH - MARGIN, zero], fill="black")
        group_width = (WIDTH - 2 * MARGIN) / max(1, len(groups))
        bar = group_width * 0.8 / max(1, len(names))
        for g, (group, bars) in enumerate(groups.items()):
            left = MARGIN + g * group_width + group_width * 0.1
            draw.text((left, HEIGHT - MARGIN + 4), group, fill="black")
            for i, name in enumerate(names):
                if name in bars:
                    top = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (bars[name] - low) / (high - low)
                    x = left + i * bar
                    draw.rectangle([x, min(top, zero), x + bar - 2, max(top, zero)], fill=PALETTE[i % len(PALETTE)])
    _legend(draw, names)
    image.save(path)
