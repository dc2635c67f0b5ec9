"""The inference speed-ups a pipeline may use, each one switchable so the bench can measure it.

`FastPaths()` is what pipelines use by default; `PLAIN` is the reference path the bench compares
against (autograd bookkeeping off only through `no_grad`, default memory format, fp32 throughout,
experts one after another, no compilation). Both give the same outputs up to float rounding (bf16
rounding of residuals where `cpu_bf16` is on: at most 1e-3 on the bundled weights, tested).
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import threading
import warnings
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
    refinements, so the rounding stays small; `cpu_trace_after`: on the CPU, the submodules a pipeline
    names in `cpu_traced_modules` (networks of many small layers, where Python overhead is a third of
    the time) run as TorchScript traces, with the same arithmetic, from the Nth call with one input
    signature on (0: never); tracing takes a fraction of a second per module, so one-off calls (one
    photo) stay eager and repeated ones (a folder, a batch, a server) pay it once."""

    inference_mode: bool = True
    channels_last: bool = True
    parallel_sampling: bool = True
    compile: bool = False
    cpu_bf16: bool = True
    cpu_trace_after: int = 32


PLAIN = FastPaths(
    inference_mode=False, channels_last=False, parallel_sampling=False, compile=False, cpu_bf16=False, cpu_trace_after=0
)


def cpu_bf16_supported() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX); elsewhere oneDNN emulates it, slower than fp32."""
    native = (getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return torch.backends.mkldnn.is_available() and any(native)


class _ClassForward(nn.Module):
    """A module's class-level forward, without its fast-path patch, as something `torch.jit.trace` traces."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args):
        return type(self.module).forward(self.module, *args)


_TRACING = threading.Lock()
MAX_TRACES = 8
MAX_SIGNATURES = 64


class FastForward:
    """A module's forward on the fast path: under bf16 autocast on the CPU (`bf16`; CUDA tensors are
    unaffected), and, for tensor-only calls without autograd on the CPU, through a TorchScript trace per
    input signature (shapes, dtypes, strides, mode and weights) from the signature's `trace_after`-th
    call on (0: never), which drops the Python overhead of the many small layers. Installed as the
    instance's `forward`; a deep copy of the module gets its own, with no traces (its weights are new
    tensors)."""

    def __init__(self, module: nn.Module, bf16: bool, trace_after: int):
        self.module, self.bf16, self.trace_after = module, bf16, trace_after
        self.forward_signature = inspect.signature(type(module).forward)
        self.traces: dict[tuple, torch.jit.ScriptModule] = {}
        self.calls: collections.Counter[tuple] = collections.Counter()

    def __deepcopy__(self, memo):
        return FastForward(copy.deepcopy(self.module, memo), self.bf16, self.trace_after)

    def _autocast(self, cache_enabled: bool = True):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=cache_enabled)

    def _trace_inputs(self, args, kwargs) -> tuple | None:
        """The call's inputs as positional tensors when it can run as a trace, else None."""
        if not self.trace_after or torch.is_grad_enabled():
            return None
        if kwargs:
            bound = self.forward_signature.bind(self.module, *args, **kwargs)
            args, kwargs = bound.args[1:], bound.kwargs
        cpu_tensors = all(isinstance(a, torch.Tensor) and a.device.type == "cpu" for a in args)
        return args if cpu_tensors and not kwargs else None

    def _signature(self, args) -> tuple:
        weight = next(self.module.parameters(), None)
        weights = None if weight is None else (weight.data_ptr(), weight.dtype, weight.device)
        return self.module.training, weights, *((a.shape, a.dtype, a.stride()) for a in args)

    def _traced(self, args) -> torch.jit.ScriptModule | None:
        """The trace for these inputs' signature, made on its `trace_after`-th call; None before."""
        key = self._signature(args)
        if key in self.traces:
            return self.traces[key]
        if len(self.calls) >= MAX_SIGNATURES:
            self.calls.clear()
        self.calls[key] += 1
        if self.calls[key] < self.trace_after:
            return None
        with _TRACING, warnings.catch_warnings(), self._autocast(cache_enabled=False):
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace", category=DeprecationWarning)
            traced = torch.jit.trace(_ClassForward(self.module), args, check_trace=False)
        if len(self.traces) >= MAX_TRACES:
            self.traces.pop(next(iter(self.traces)))
        self.traces[key] = traced
        return traced

    def __call__(self, *args, **kwargs):
        inputs = self._trace_inputs(args, kwargs)
        traced = None if inputs is None else self._traced(inputs)
        if traced is not None:
            return traced(*inputs)
        with self._autocast():
            return type(self.module).forward(self.module, *args, **kwargs)


def set_fast_forward(module: nn.Module, bf16: bool, trace_after: int) -> None:
    """Run `module` through a `FastForward` when `bf16` or `trace_after`, else its own forward."""
    vars(module).pop("forward", None)
    if bf16 or trace_after:
        module.forward = FastForward(module, bf16, trace_after)


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
