"""The inference speed-ups a pipeline may use, each one switchable so the bench can measure it.

`FastPaths()` is what pipelines use by default; `PLAIN` is the reference path the bench compares
against (autograd bookkeeping off only through `no_grad`, default memory format, fp32 throughout,
experts one after another, no compilation). Both give the same outputs up to float rounding (bf16
rounding of residuals where `cpu_bf16` is on: at most 1e-3 on the bundled weights, tested).
"""

from __future__ import annotations

import functools
import types
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FastPaths:
    """`inference_mode`: torch.inference_mode instead of no_grad; `channels_last`: NHWC weights and
    activations (faster oneDNN / cuDNN convolutions); `parallel_sampling`: on a CPU with several
    threads, the independent sampling runs of a batch (each expert, the shared expert) run at once,
    one per thread, each with one intra-op thread (the small convolutions of these networks scale
    poorly across threads; independent runs scale well); `compile`: `torch.compile` every network
    (minutes for the first call on a CPU, so only for long runs; sampling runs then go one after
    another, since compiled graphs are specialised to the thread count); `cpu_bf16`: on a CPU that
    computes bf16 natively, the submodules a pipeline names in `cpu_bf16_modules` (wide convolution
    stacks, where bf16 halves the time) run under bf16 autocast; their outputs are residuals or
    refinements, so the rounding stays small."""

    inference_mode: bool = True
    channels_last: bool = True
    parallel_sampling: bool = True
    compile: bool = False
    cpu_bf16: bool = True


PLAIN = FastPaths(inference_mode=False, channels_last=False, parallel_sampling=False, compile=False, cpu_bf16=False)


def cpu_bf16_supported() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX); elsewhere oneDNN emulates it, slower than fp32."""
    native = (getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return torch.backends.mkldnn.is_available() and any(native)


def _forward_in_bf16(self, *args, **kwargs):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return type(self).forward(self, *args, **kwargs)


def autocast_cpu_bf16(module: nn.Module, enabled: bool) -> None:
    """Make `module` run its CPU work under bf16 autocast (CUDA tensors are unaffected), or undo that.

    A bound method on the instance, so `copy.deepcopy` of a pipeline binds it to the copy.
    """
    vars(module).pop("forward", None)
    if enabled:
        module.forward = types.MethodType(_forward_in_bf16, module)


def inference(method):
    """Run a pipeline method without autograd: inference mode or no_grad, as its fast paths say."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with torch.inference_mode() if self.fast_paths.inference_mode else torch.no_grad():
            return method(self, *args, **kwargs)

    return run


def _run_now(fn, *args) -> Future:
    future = Future()
    future.set_result(fn(*args))
    return future


@contextmanager
def sampling_pool(enabled: bool, device: torch.device):
    """Yields `submit(fn, *args) -> Future`: a pool of one single-threaded worker per intra-op thread
    when `enabled` on a multi-threaded CPU, else a call run at once. On an error, runs not yet
    started are dropped and the intra-op thread count comes back."""
    threads = torch.get_num_threads()
    if not enabled or device.type != "cpu" or threads < 2:
        yield _run_now
        return
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="mofrr-sampling")
    try:
        yield pool.submit
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
