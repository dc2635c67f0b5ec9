"""The inference speed-ups a pipeline may use, each one switchable so the bench can measure it.

`FastPaths()` is what pipelines use by default; `PLAIN` is the reference path the bench compares
against (autograd bookkeeping off only through `no_grad`, default memory format, experts one after
another, no compilation). Both give the same outputs up to float rounding.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FastPaths:
    """`inference_mode`: torch.inference_mode instead of no_grad; `channels_last`: NHWC weights and
    activations (faster oneDNN / cuDNN convolutions); `parallel_sampling`: on a CPU with several
    threads, the independent sampling runs of a batch (each expert, the shared expert) run at once,
    one per thread, each with one intra-op thread (the small convolutions of these networks scale
    poorly across threads; independent runs scale well); `compile`: `torch.compile` every network
    (minutes for the first call on a CPU, so only for long runs; sampling runs then go one after
    another, since compiled graphs are specialised to the thread count)."""

    inference_mode: bool = True
    channels_last: bool = True
    parallel_sampling: bool = True
    compile: bool = False


PLAIN = FastPaths(inference_mode=False, channels_last=False, parallel_sampling=False, compile=False)


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
