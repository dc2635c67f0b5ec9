"""The server process's glibc heap: fewer arenas, and freed image memory handed back after each request.

Each request allocates and frees tens of MB of image buffers of changing sizes; glibc keeps freed
chunks in its heaps, so without this the server's memory creeps up request after request (measured
in tests/test_gradio.py). Elsewhere than glibc both calls do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter


def _glibc():
    """The C library when it is glibc, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


LIBC = _glibc()


def limit_arenas(arenas: int) -> None:
    """Cap the malloc arenas; call before the server starts its threads (see settings.MALLOC_ARENAS)."""
    if LIBC is not None:
        LIBC.mallopt(M_ARENA_MAX, arenas)


def release_freed(handler):
    """Wrap an endpoint so that, once it has returned and its buffers are freed, free heap pages go back to the OS."""

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        finally:
            if LIBC is not None:
                LIBC.malloc_trim(0)

    return wrapped
