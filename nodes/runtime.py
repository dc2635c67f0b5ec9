"""What every node does around the core: ComfyUI's device, the pipeline cache, progress and the
interrupt button, and IMAGE tensors ([B, H, W, C] floats in [0, 1]) to and from the core's arrays.

Imported by the nodes only when they run, so listing the nodes never imports torch.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from mofrr_core.errors import ImageError, MofrrError
from mofrr_core.imageio import Photo
from mofrr_core.pipelines.common import carry_back, crop_tensor, to_photo
from mofrr_core.weights import resolve_weights

try:
    import comfy.model_management as model_management
    import comfy.utils as comfy_utils
except ImportError:  # outside ComfyUI
    model_management = comfy_utils = None

_PIPELINES: dict[tuple[str, str, str], object] = {}


def device() -> torch.device:
    """ComfyUI's torch device (the CPU outside ComfyUI)."""
    return model_management.get_torch_device() if model_management else torch.device("cpu")


def load_pipeline(cls, source):
    """A `cls` pipeline from a folder or Hub repo id, on ComfyUI's device; loaded once, then reused."""
    folder = resolve_weights(source).resolve()
    key = (cls.__name__, str(folder), str(device()))
    if key not in _PIPELINES:
        _PIPELINES[key] = cls.from_pretrained(folder).to(device())
    return _PIPELINES[key]


def progress():
    """A pipeline `callback(done, total)`: moves ComfyUI's progress bar per sampling step and stops the
    run at the next step once the interrupt button is pressed."""
    bar = None

    def callback(done: int, total: int) -> None:
        nonlocal bar
        if model_management:
            model_management.throw_exception_if_processing_interrupted()
        if comfy_utils:
            bar = bar or comfy_utils.ProgressBar(total)
            bar.update_absolute(done, total)

    return callback


def photos(image, name: str) -> list[Photo]:
    """Every image of an IMAGE batch as a Photo; one clear error for a wrong layout, range or NaN."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (1, 3, 4) or not len(image):
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ImageError(f"{name}: expected an IMAGE [batch, height, width, channels] with 1, 3 or 4 channels, got {got}")
    return [to_photo(image[i], f"{name}[{i}]") for i in range(len(image))]


def to_image(arrays: list[np.ndarray]) -> torch.Tensor:
    """[B, H, W, C] float32 IMAGE of H x W x C arrays of one size."""
    if len({a.shape for a in arrays}) != 1:
        raise ImageError(f"images of different sizes {sorted({a.shape[:2] for a in arrays})} cannot form one IMAGE batch")
    return torch.from_numpy(np.stack(arrays).astype(np.float32))


def with_alpha(photo: Photo, rgb: np.ndarray | None = None) -> np.ndarray:
    """`rgb` (default: the photo's pixels) with the photo's alpha as a 4th channel when it has one."""
    rgb = photo.rgb if rgb is None else rgb
    return rgb if photo.alpha is None else np.dstack([rgb, photo.alpha])


def crops_in(pipe, crops, name: str = "crops") -> tuple[torch.Tensor, torch.Tensor]:
    """(the crops as (B, 3, H, W) on the pipeline's device, the same at the pipeline's working size)."""
    rgb = torch.cat([crop_tensor(p.rgb, pipe.device) for p in photos(crops, name)])
    return rgb, pipe.to_working(rgb)


def crops_out(crops: torch.Tensor, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """IMAGE of working-size outputs carried back to the crops' size (only their change over `x`)."""
    return to_image([carry_back(crops[i : i + 1], x[i], output[i]) for i in range(len(x))])


def same_batch(expected: int, found: int, what: str) -> None:
    """One clear error when a link does not belong to the crops it is used with."""
    if expected != found:
        raise MofrrError(f"{what} holds {found} face(s) but the crops hold {expected}; connect the outputs made from these crops")


def failed(outcome) -> bool:
    """Whether a batch image's outcome is the error that kept it from being processed (it then passes through unchanged)."""
    return isinstance(outcome, MofrrError)


def failure(error: MofrrError, name: str) -> dict:
    """The report entry of an image that passed through unchanged: which one and why."""
    return {"input": name, "error": str(error)}


def to_json(data) -> str:
    """A report as indented JSON text."""
    return json.dumps(data, indent=2)
