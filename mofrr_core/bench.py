"""`mofrr bench`: latency, throughput and memory of the pipelines, optimized path against plain path.

Every case (method, configuration, crop size, steps, batch) runs the same random aligned crops
through two pipelines with the same weights: the default fast paths and `PLAIN` (fp32, experts one
after another, no fusion). It reports, after warm-up, the median and spread (min-max) of the
end-to-end latency and of every stage, faces per second, peak memory (RSS on the CPU,
`max_memory_allocated` on CUDA), the speed-up and the largest output difference between the paths.
All four MoFRR experts are forced on, the worst case. `--quality` adds PSNR gain against steps.
"""

from __future__ import annotations

import itertools
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import MofrrError
from .pipelines import FRRffusionPipeline, MoFRRPipeline
from .pipelines.fast_paths import PLAIN, FastPaths
from .types import RETOUCH_TYPES
from .weights import default_weights

PIPELINES = {"mofrr": MoFRRPipeline, "frrffusion": FRRffusionPipeline}


@dataclass
class Case:
    """One measured setting."""

    method: str
    config: str
    size: int
    steps: int
    batch: int
    device: str


@dataclass
class Measure:
    """Latency (seconds per call) of one path: median, min, max, per-stage medians, peak memory (MB)."""

    median: float
    low: float
    high: float
    stages: dict[str, float]
    peak_mb: float


@dataclass
class Row:
    case: Case
    fast: Measure
    plain: Measure | None = None
    max_diff: float | None = None

    @property
    def faces_per_second(self) -> float:
        return self.case.batch / self.fast.median

    @property
    def speedup(self) -> float | None:
        return None if self.plain is None else self.plain.median / self.fast.median

    def to_dict(self) -> dict:
        return {
            **asdict(self.case), "fast": asdict(self.fast), "plain": self.plain and asdict(self.plain),
            "max_diff": self.max_diff, "speedup": self.speedup, "faces_per_second": self.faces_per_second,
        }


class PeakMemory:
    """Peak memory over a block: CUDA's allocator peak, or the process's peak RSS (VmHWM).

    On Linux the RSS peak is reset at the start (`/proc/self/clear_refs`), so nothing samples
    during the timed runs; where it cannot be reset it is the peak since the process started.
    """

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    @staticmethod
    def _high_water_mark() -> int:
        status = Path("/proc/self/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        self.peak = torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else self._high_water_mark()
        return False


def load_pipeline(method: str, config: str, device: str, fast_paths: FastPaths):
    """The bundled weights for `lite` (when present), else a seeded random init of the configuration."""
    cls = PIPELINES[method]
    bundled = default_weights(method)
    if config == "lite" and (Path(bundled) / "model_index.json").exists():
        pipe = cls.from_pretrained(bundled)
    else:
        pipe = cls.from_config_name(config)
    dtype = torch.bfloat16 if device == "cuda" and fast_paths != PLAIN else torch.float32
    return pipe.to(device, dtype).set_fast_paths(fast_paths)


def _options(method: str, steps: int) -> dict:
    options = dict(steps=steps, seed=0, aligned=True)
    if method == "mofrr":
        options["experts"] = list(RETOUCH_TYPES)
    return options


def measure(pipes: dict[str, object], crops: list[np.ndarray], options: dict, repeats: int, warmup: int) -> dict[str, tuple[Measure, np.ndarray]]:
    """Time `pipe(crops)` `repeats` times per pipe after `warmup` calls each; returns per pipe its Measure
    and restored crops. The pipes take turns call by call, so a busy spell of the machine hits them alike;
    peak memory is the process's (every pipe in `pipes` is loaded) over each pipe's own calls."""
    for pipe in pipes.values():
        for _ in range(warmup):
            pipe(crops, **options)
    totals = {name: [] for name in pipes}
    stages = {name: {} for name in pipes}
    peaks = dict.fromkeys(pipes, 0)
    results = {}
    for _ in range(repeats):
        for name, pipe in pipes.items():
            with PeakMemory(pipe.device) as memory:
                start = time.perf_counter()
                results[name] = pipe(crops, **options)
                totals[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks[name], memory.peak)
            for key, seconds in results[name][0].timings.items():
                if key not in ("total", "detect_align"):
                    stages[name].setdefault(key, []).append(seconds)
    measures = {}
    for name, times in totals.items():
        stage_medians = {k: statistics.median(v) for k, v in stages[name].items()}
        measure = Measure(statistics.median(times), min(times), max(times), stage_medians, peaks[name] / 2**20)
        measures[name] = measure, np.stack([r.image.rgb for r in results[name]])
    return measures


def run_case(case: Case, repeats: int, warmup: int, compare: bool) -> Row:
    """Measure one case with the fast paths (and the plain path when `compare`)."""
    rng = np.random.default_rng([case.size, case.batch])
    crops = [rng.random((case.size, case.size, 3), dtype=np.float32) for _ in range(case.batch)]
    options = _options(case.method, case.steps)
    # traces from the first call, so the warm-up reaches the steady state of a long run
    paths = {"fast": FastPaths(cpu_trace_after=1), **({"plain": PLAIN} if compare else {})}
    pipes = {name: load_pipeline(case.method, case.config, case.device, fast_paths) for name, fast_paths in paths.items()}
    measures = measure(pipes, crops, options, repeats, warmup)
    row = Row(case, measures["fast"][0])
    if compare:
        row.plain = measures["plain"][0]
        row.max_diff = float(np.abs(measures["fast"][1] - measures["plain"][1]).max())
    return row


def quality_curve(faces: Path, steps_list: list[int], method: str = "mofrr", n: int | None = None) -> dict[int, float]:
    """Mean PSNR gain over the input (dB, mixed retouching) of the bundled weights against DDIM steps."""
    from .evaluation import _image_metrics, build_test_set, restore_cases

    cases = [c for c in build_test_set(faces, n=n, progress=False) if c.group == "mixed"]
    base = np.mean([_image_metrics(c.retouched, c.original)[0] for c in cases])
    curve = {}
    for steps in steps_list:
        restored = restore_cases(method, cases, steps=steps, progress=False)
        curve[steps] = float(np.mean([_image_metrics(r, c.original)[0] for r, c in zip(restored.images, cases)]) - base)
    return curve


def machine() -> str:
    """The hardware in a few words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def to_markdown(rows: list[Row]) -> str:
    """The results table (milliseconds)."""
    header = "| method | config | crop | steps | batch | device | fast ms (min-max) | plain ms | speed-up | max diff | faces/s | peak MB | stages (fast, ms) |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        c, f = r.case, r.fast
        plain = "" if r.plain is None else f"{r.plain.median * 1e3:.0f}"
        speed = "" if r.speedup is None else f"{r.speedup:.2f}x"
        diff = "" if r.max_diff is None else f"{r.max_diff:.1e}"
        stages = ", ".join(f"{k} {v * 1e3:.0f}" for k, v in f.stages.items() if v >= 5e-4)
        lines.append(
            f"| {c.method} | {c.config} | {c.size} | {c.steps} | {c.batch} | {c.device} | {f.median * 1e3:.0f} ({f.low * 1e3:.0f}-{f.high * 1e3:.0f}) "
            f"| {plain} | {speed} | {diff} | {r.faces_per_second:.2f} | {f.peak_mb:.0f} | {stages} |"
        )
    return "\n".join(lines) + "\n"


def run_bench(
    methods: list[str], configs: list[str], sizes: list[int], steps: list[int], batches: list[int], device: str = "cpu",
    repeats: int = 5, warmup: int = 1, compare: bool = True, out: Path | None = None, progress: bool = True,
) -> list[Row]:
    """Measure every combination; write bench.json and bench.md to `out` when given."""
    if device == "cuda" and not torch.cuda.is_available():
        raise MofrrError("--device cuda: no CUDA GPU is available here; use --device cpu")
    unknown = set(methods) - set(PIPELINES)
    if unknown:
        raise MofrrError(f"unknown method(s) {', '.join(sorted(unknown))}; choose from {', '.join(PIPELINES)}")
    cases = [Case(m, c, s, n, b, device) for m, c, s, n, b in itertools.product(methods, configs, sizes, steps, batches)]
    rows = []
    for case in tqdm(cases, desc="bench", unit="case", disable=not progress):
        rows.append(run_case(case, repeats, warmup, compare))
        if progress:
            tqdm.write(to_markdown(rows[-1:]).splitlines()[-1])
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"date": date.today().isoformat(), "machine": machine(), "torch": torch.__version__, "repeats": repeats, "warmup": warmup}
        (out / "bench.json").write_text(json.dumps({**meta, "rows": [r.to_dict() for r in rows]}, indent=2))
        (out / "bench.md").write_text(f"{meta['date']}, {meta['machine']}, torch {meta['torch']}, median of {repeats} after {warmup} warm-up\n\n" + to_markdown(rows))
    return rows
