"""The inference fast paths give the plain path's outputs, and `mofrr bench` measures both."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from mofrr_core.cli import main
from mofrr_core.imageio import load_photo
from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline
from mofrr_core.pipelines.fast_paths import PLAIN, FastForward, FastPaths, cpu_bf16_supported, sampling_pool
from mofrr_core.types import RETOUCH_TYPES
from mofrr_core.weights import default_weights

from conftest import ROOT
from test_pipelines import randomise_

ALL = list(RETOUCH_TYPES)
EXACT = FastPaths(cpu_bf16=False, cpu_trace_after=1)


@pytest.fixture(scope="module")
def pipes():
    """The same tiny random MoFRR weights with every fp32 fast path and with the plain path.

    Random weights make large residuals, where bf16 rounding shows; `cpu_bf16` is tested on the
    bundled weights below."""
    fast = randomise_(MoFRRPipeline.from_config_name("tiny")).set_fast_paths(EXACT)
    plain = copy.deepcopy(fast).set_fast_paths(PLAIN)
    return fast, plain


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_default_pipelines_use_every_fast_path_but_compile():
    pipe = MoFRRPipeline.from_config_name("tiny")
    assert pipe.fast_paths == FastPaths() and FastPaths().channels_last and FastPaths().cpu_bf16 and not FastPaths().compile
    conv = pipe.shared_expert.denoiser.unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    pipe.set_fast_paths(PLAIN)
    assert conv.is_contiguous()
    pipe.set_fast_paths()
    assert conv.is_contiguous(memory_format=torch.channels_last)


def fast_forward(module) -> FastForward | None:
    return vars(module).get("forward")


def in_bf16(module) -> bool:
    return fast_forward(module) is not None and fast_forward(module).bf16


def traced(module) -> bool:
    return fast_forward(module) is not None and fast_forward(module).trace_after > 0


def test_cpu_bf16_covers_the_named_modules_only_and_follows_copies():
    pipe = MoFRRPipeline.from_config_name("tiny")
    wrapped = {name for key, model in pipe.components.items() for name, m in model.named_modules(prefix=key) if in_bf16(m)}
    expected = {f"wavefrr_{t}.hfcam_level{level}" for t in RETOUCH_TYPES for level in (1, 2)} | {"shared_expert.denoiser"}
    assert wrapped == (expected if cpu_bf16_supported() else set())
    if not wrapped:
        pytest.skip("this CPU has no native bf16: the fast path keeps fp32")
    copied = copy.deepcopy(pipe)
    hfcam, copied_hfcam = pipe.wavefrr_whitening.hfcam_level1, copied.wavefrr_whitening.hfcam_level1
    assert fast_forward(copied_hfcam).module is copied_hfcam  # a copy runs its own weights
    copied.set_fast_paths(PLAIN)
    assert not in_bf16(copied_hfcam) and in_bf16(hfcam)
    with torch.inference_mode():
        bands = torch.rand(1, 3, 3, 32, 32)
        out = hfcam(torch.rand(1, 3, 16, 16), bands)
    assert out.dtype == torch.float32 and torch.equal(out, bands)  # an untrained HFCAM is the identity, in bf16 too


def test_cpu_trace_covers_the_named_modules_and_runs_the_same_arithmetic():
    pipe = randomise_(MoFRRPipeline.from_config_name("tiny"))
    names = {name for key, model in pipe.components.items() for name, m in model.named_modules(prefix=key) if traced(m)}
    per_type = {f"wavefrr_{t}.{part}" for t in RETOUCH_TYPES for part in ("denoiser", "idem")}
    assert names == per_type | {"shared_expert.denoiser", "merger"}
    merger = pipe.merger
    x, residuals = torch.rand(2, 3, 32, 32), torch.rand(2, 4, 3, 32, 32) - 0.5
    shared = torch.rand(2, 3, 32, 32) - 0.5
    eager = lambda: type(merger).forward(merger, x, residuals, shared)  # noqa: E731
    after = FastPaths().cpu_trace_after
    with torch.inference_mode():
        for _ in range(after - 1):  # one-off calls stay eager
            merger(x, residuals, shared)
        assert not fast_forward(merger).traces
        out = merger(x, residuals, shared)
        assert len(fast_forward(merger).traces) == 1 and torch.equal(out, eager())
        for _ in range(after):  # another input signature: another trace
            merger(x[:1], residuals[:1], shared[:1])
        assert len(fast_forward(merger).traces) == 2
        next(merger.parameters()).mul_(0.5)  # traces read the weights in place (EMA updates, loading)
        assert torch.equal(merger(x, residuals, shared), eager()) and not torch.equal(eager(), out)
    with torch.enable_grad():  # training runs the module itself, with autograd
        assert merger(x, residuals, shared).requires_grad
    copied = copy.deepcopy(pipe)
    assert fast_forward(copied.merger).module is copied.merger and not fast_forward(copied.merger).traces
    pipe.set_fast_paths(PLAIN)
    assert fast_forward(merger) is None


@pytest.mark.parametrize("method", ["mofrr", "frrffusion"])
def test_bundled_weights_fast_path_within_1e3_of_plain(method, two_threads):
    """The default fast paths (bf16 where it pays included) against the plain fp32 path, on a retouched example."""
    cls = {"mofrr": MoFRRPipeline, "frrffusion": FRRffusionPipeline}[method]
    fast = cls.from_pretrained(default_weights(method))
    plain = copy.deepcopy(fast).set_fast_paths(PLAIN)
    photo = sorted((ROOT / "examples" / "retouched").glob("*.png"))[0]
    options = dict(steps=4, seed=0, experts=ALL) if method == "mofrr" else dict(steps=4, seed=0)
    a, b = fast(load_photo(photo), **options), plain(load_photo(photo), **options)
    assert np.abs(a.image.rgb - b.image.rgb).max() < 1e-3


@pytest.mark.parametrize("threads", [1, 2])
def test_fast_and_plain_paths_agree_with_all_experts(pipes, aligned, threads, request):
    if threads == 2:
        request.getfixturevalue("two_threads")
    fast, plain = pipes
    crops = [crop for crop, _ in aligned[:2]]
    counts = {}
    results = {}
    for name, pipe in (("fast", fast), ("plain", plain)):
        steps = []
        results[name] = pipe(crops, steps=3, aligned=True, experts=ALL, callback=lambda done, total: steps.append((done, total)))
        counts[name] = steps
    assert counts["fast"][-1] == counts["plain"][-1] == (3 * 5, 3 * 5) and len(counts["fast"]) == 15
    for a, b in zip(results["fast"], results["plain"]):
        assert np.abs(a.image.rgb - b.image.rgb).max() < 1e-4
        for key in ALL + ["shared"]:
            assert np.abs(a.faces[0].expert_outputs[key] - b.faces[0].expert_outputs[key]).max() < 1e-4
    assert torch.get_num_threads() == threads


def test_sampling_pool_errors_surface_and_threads_come_back(pipes, crop, two_threads):
    fast, _ = pipes

    calls = []

    def stop(done, total):
        """Like ComfyUI's interrupt: once asked to stop, every later step raises."""
        calls.append(done)
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fast(crop, steps=3, aligned=True, experts=ALL, callback=stop)
    # of 15 steps (5 runs of 3), each of the 2 workers takes at most one step after the stop
    assert len(calls) <= 2 + 2
    assert torch.get_num_threads() == 2
    assert fast(crop, steps=1, aligned=True).image.rgb.shape == crop.shape
    with sampling_pool(True, torch.device("cpu")) as submit:
        assert torch.get_num_threads() == 1
        assert submit(lambda: torch.get_num_threads()).result() == 1
    assert torch.get_num_threads() == 2


def test_frrffusion_fast_and_plain_agree(crop):
    fast = randomise_(FRRffusionPipeline.from_config_name("tiny")).set_fast_paths(EXACT)
    plain = copy.deepcopy(fast).set_fast_paths(PLAIN)
    a = fast(crop, steps=2, aligned=True).image.rgb
    assert np.abs(a - plain(crop, steps=2, aligned=True).image.rgb).max() < 1e-4


def test_bench_quick_measures_both_paths(tmp_path, capsys):
    assert main(["bench", "--quick", "--methods", "mofrr,frrffusion", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["machine"] and report["date"]
    rows = {row["method"]: row for row in report["rows"]}
    assert set(rows) == {"mofrr", "frrffusion"}
    for row in rows.values():
        assert row["config"] == "tiny" and row["max_diff"] < 1e-3 and row["speedup"] > 0
        assert row["fast"]["peak_mb"] > 50 and row["fast"]["median"] > 0 and row["faces_per_second"] > 0
    assert {"router", "degree", "unsmooth", "unwarp", "experts", "shared_expert", "merger"} <= set(rows["mofrr"]["fast"]["stages"])
    assert {"fmar", "hfdg"} <= set(rows["frrffusion"]["fast"]["stages"])
    assert "| mofrr | tiny | 64 | 1 | 1 | cpu |" in capsys.readouterr().out


def test_bench_refuses_bad_settings(tmp_path, capsys):
    assert main(["bench", "--quick", "--methods", "nope", "-o", str(tmp_path)]) == 1
    assert "unknown method" in capsys.readouterr().err
