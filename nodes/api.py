"""The node API the pack is written against: ComfyUI's V3 `io` where `comfy_api` exists, else the
classic stand-in of `classic.py` (same names), so one set of node classes serves both."""

try:
    from comfy_api.latest import ComfyExtension, io

    V3 = True
except ImportError:
    from . import classic as io

    ComfyExtension = None
    V3 = False

__all__ = ["V3", "ComfyExtension", "io"]
