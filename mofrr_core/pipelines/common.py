"""What both restoration pipelines share: inputs, faces, batching, seeds, progress, saving and loading.

`RestorationPipeline.run` turns any supported input (or a list of them) into aligned face crops
(detected and aligned, or taken as they are with `aligned=True`), resizes every crop to the
method's working size, batches the crops that share a working shape, lets the method restore
each batch (`plan` then `restore`), carries each restoration back to its crop as a residual
(so the crop's own detail is kept) and pastes the crops back into their photos.

Seeds: every face gets its own noise, drawn from a generator seeded by (seed, the face's index
in its photo, the network), so a photo gets the same noise alone or inside a list (the results
then agree up to the float rounding of batched kernels), and experts never share noise.
"""

from __future__ import annotations

import fnmatch
import numbers
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from ..align import paste_back
from ..configs import build_model, model_class, pipeline_components
from ..errors import ImageError, MofrrError, WeightsError
from ..face_pipeline import AlignedFace, align_faces
from ..imageio import Photo, _check_size, check_values, pil_to_photo
from ..models.ops import resize
from ..weights import MODEL_INDEX, check_component, check_pipeline_folder, load_component, load_components, quiet_dtype_casts, resolve_weights
from .fast_paths import FastPaths, cpu_bf16_supported, set_fast_forward
from .result import FaceResult, RestorationResult

Callback = Callable[[int, int], object]
FEATHER = 0.06


# inputs


def _array_to_photo(arr: np.ndarray, name: str) -> Photo:
    """H x W (x 1, 3 or 4) array: uint8 / uint16 scaled, floats taken as [0, 1]; alpha kept.

    The layout and size are checked before any copy, and NaN, infinite or out-of-range values are
    refused rather than clipped (a silently wrong restoration is worse than a clear refusal).
    """
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"{name}: array of shape {arr.shape} is not an image; give H x W x 3 RGB values in [0, 1]")
    _check_size(arr.shape[1], arr.shape[0], name)
    depth = 16 if arr.dtype == np.uint16 else 8
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / np.iinfo(arr.dtype).max
    elif not np.issubdtype(arr.dtype, np.floating):
        raise ImageError(f"{name}: unsupported array dtype {arr.dtype}; give float values in [0, 1] or uint8")
    arr = np.asarray(arr, dtype=np.float32)
    check_values(arr, name)
    arr = np.clip(arr, 0, 1)
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    rgb = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr[..., :3]
    return Photo(rgb=np.ascontiguousarray(rgb), alpha=alpha, bit_depth=depth)


def _tensor_to_array(image: torch.Tensor, name: str) -> np.ndarray:
    """A tensor's values as a CPU array (dense, H x W x C when given channels first); floats as float32, uint8 kept."""
    if image.is_floating_point():
        dtype = torch.float32
    elif image.dtype == torch.uint8:
        dtype = torch.uint8
    else:
        raise ImageError(f"{name}: unsupported tensor dtype {str(image.dtype).removeprefix('torch.')}; give float values in [0, 1] or uint8")
    if image.layout != torch.strided:
        image = image.to_dense()
    arr = image.detach().to("cpu", dtype).numpy()
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        arr = arr.transpose(1, 2, 0)
    return arr


def to_photo(image, name: str = "image") -> Photo:
    """A Photo from a PIL image, an H x W x 3 array in [0, 1] (or uint8), a (3, H, W) or (H, W, 3) tensor, or a Photo.

    Anything else, or an image that cannot be used, is one ImageError line naming `name`.
    """
    if isinstance(image, Photo):
        photo = _array_to_photo(image.rgb, name)
        return Photo(photo.rgb, image.alpha, image.bit_depth)
    if isinstance(image, Image.Image):
        return pil_to_photo(image, name)
    if isinstance(image, torch.Tensor):
        return _array_to_photo(_tensor_to_array(image, name), name)
    if isinstance(image, np.ndarray):
        return _array_to_photo(image, name)
    raise ImageError(f"{name}: cannot use a {type(image).__name__} as an image; give a PIL image, a numpy array, a tensor or a Photo")


def image_list(images, name) -> tuple[list, list[str], bool]:
    """(images, their names, whether a list was given); a 4-D tensor is a list of images."""
    batched = isinstance(images, (list, tuple)) or (isinstance(images, torch.Tensor) and images.ndim == 4)
    items = list(images) if batched else [images]
    if not items:
        raise MofrrError("no images given")
    if isinstance(name, (list, tuple)):
        if len(name) != len(items):
            raise MofrrError(f"{len(name)} names for {len(items)} images")
        names = [str(n) for n in name]
    else:
        names = [f"{name}[{i}]" for i in range(len(items))] if batched else [str(name)]
    return items, names, batched


def whole_number(value, name: str, low: int, high: int | None = None) -> int:
    """`value` as an int in [low, high]; a one-line MofrrError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise MofrrError(f"{name} must be a whole number {bounds}, got {value!r}")
    return int(value)


# faces, seeds, progress, timings


@dataclass
class FaceJob:
    """One crop to restore: which photo, which face of it, the crop and (for photos) the aligned face."""

    image: int
    index: int
    crop: np.ndarray
    face: AlignedFace | None = None


@dataclass
class FaceInfo:
    """What a method reports for one batch row; `outputs` are (3, h, w) tensors at the working shape;
    `undone`: the types MoFRR's unsmooth and unwarp undid."""

    routing: dict[str, float] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)
    degrees: dict[str, float] = field(default_factory=dict)
    undone: list[str] = field(default_factory=list)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)


def face_jobs(photo: Photo, image_index: int, aligned: bool, size: int | None, name: str) -> list[FaceJob]:
    """The crops of one photo: the photo itself when `aligned`, else every detected face, largest first."""
    if aligned:
        return [FaceJob(image_index, 0, photo.rgb)]
    return [FaceJob(image_index, i, face.crop, face) for i, face in enumerate(align_faces(photo.rgb, size, name=name))]


def face_generator(seed: int, face_index: int, stream: int) -> torch.Generator:
    """A CPU generator for one face and one network (`stream`), independent of batching and device."""
    state = np.random.SeedSequence([seed, face_index, stream]).generate_state(1)[0]
    return torch.Generator("cpu").manual_seed(int(state))


class Progress:
    """Counts denoising steps over a whole call and reports them to `callback(done, total)`.

    Steps may come from several sampling threads at once. Once the callback has raised (an
    interrupt, a time limit), every later step raises the same error without calling it again,
    so parallel sampling runs stop at their next step instead of running on.
    """

    def __init__(self, total: int, callback: Callback | None):
        self.done, self.total, self.callback = 0, total, callback
        self._lock = threading.Lock()
        self._stopped: BaseException | None = None

    def step(self, *_):
        with self._lock:
            if self._stopped is not None:
                raise self._stopped
            self.done += 1
            if self.callback is None:
                return
            try:
                self.callback(self.done, self.total)
            except BaseException as exc:
                self._stopped = exc
                raise


@dataclass
class Sampler:
    """Sampling settings of one batch: `faces` holds each row's face index (for the seeds)."""

    steps: int
    seed: int
    faces: list[int]
    progress: Progress

    def kwargs(self, rows: Sequence[int], stream: int) -> dict:
        """Keywords for a model's `restore` on the batch rows `rows`."""
        generators = [face_generator(self.seed, self.faces[r], stream) for r in rows]
        return dict(steps=self.steps, generator=generators, callback=self.progress.step)


class Timings(dict):
    """Seconds per stage, summed over batches; waits for the GPU so stages are timed honestly."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str):
        """Add the block's seconds to `name` (stages timed in parallel threads each add their own)."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            with self._lock:
                self[name] = self.get(name, 0.0) + time.perf_counter() - start

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


# tensors


def working_shape(height: int, width: int, side: int, multiple: int) -> tuple[int, int]:
    """Shape with the longer side `side` and the aspect kept, both sides multiples of `multiple`."""
    scale = side / max(height, width)
    return tuple(max(multiple, int(round(n * scale / multiple)) * multiple) for n in (height, width))


def crop_tensor(crop: np.ndarray, device: torch.device) -> torch.Tensor:
    """(1, 3, H, W) float32 tensor of an H x W x 3 crop."""
    return torch.from_numpy(np.ascontiguousarray(crop)).to(device, torch.float32).permute(2, 0, 1)[None]


def carry_back(crop: torch.Tensor, working: torch.Tensor, output: torch.Tensor) -> np.ndarray:
    """The crop plus the restoration residual (output - working) at the crop's size, as H x W x 3 in [0, 1]."""
    working, output = working.float()[None], output.float()[None]
    if working.shape[-2:] == crop.shape[-2:]:
        restored = output
    else:
        restored = crop + resize(output - working, crop.shape[-2:])
    return restored.clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()


# the pipeline base


@dataclass
class Plan:
    """What a method decided for one batch before sampling; `runs`: its sampling runs (for progress)."""

    runs: int
    data: dict = field(default_factory=dict)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a dotted module path matches one of the shell patterns, `*` staying within one name."""
    return any(fnmatch.fnmatchcase(name, p) and name.count(".") == p.count(".") for p in patterns)


class RestorationPipeline(DiffusionPipeline):
    """Base of the MoFRR and FRRffusion pipelines: loading, saving and the face loop.

    Subclasses name their `method` and `components_used` (component names of `configs`), and provide
    `working_side`/`working_multiple`, `plan(x, options, timings, crops)` (`crops`: the faces of `x` at their
    own resolution) and `restore(x, plan, sampler, timings) -> (restored batch, [FaceInfo per row])`; `cpu_bf16_modules`
    names the submodules where bf16 pays on a CPU and `cpu_traced_modules` those where TorchScript traces
    pay (shell patterns of dotted paths, `*` within one name; traced modules must return tensors and
    must not nest).
    """

    method: ClassVar[str]
    components_used: ClassVar[tuple[str, ...]]
    working_side: ClassVar[int]
    working_multiple: ClassVar[int] = 8
    _optional_components: ClassVar[list] = []
    cpu_bf16_modules: ClassVar[tuple[str, ...]] = ()
    cpu_traced_modules: ClassVar[tuple[str, ...]] = ()
    fast_paths: FastPaths = FastPaths()

    # construction, loading

    @classmethod
    def component_classes(cls) -> dict[str, type]:
        """Model class of every component key (e.g. "wavefrr_whitening": WaveFRRExpert)."""
        return {key: model_class(component) for key, component, _ in pipeline_components() if component in cls.components_used}

    @classmethod
    def config_options(cls, name: str) -> dict:
        """Pipeline options (non-model `__init__` keywords) of a named configuration."""
        return {}

    @classmethod
    def from_config_name(cls, name: str = "lite", seed: int = 0):
        """A randomly initialised pipeline of a named configuration ("tiny", "lite", "paper"); `seed` fixes the init."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            models = {
                key: build_model(component, name, **({"retouch_type": t} if t else {})).train(False)
                for key, component, t in pipeline_components()
                if component in cls.components_used
            }
        return cls(**models, **cls.config_options(name)).set_fast_paths()

    @classmethod
    def from_pretrained(cls, path_or_repo_id, torch_dtype: torch.dtype | None = None):
        """Load a saved pipeline from a local folder or a Hugging Face repo id (cache only with HF_HUB_OFFLINE=1).

        Safetensors only; every problem with the files is a one-line WeightsError (see `mofrr_core.weights`).
        """
        folder = resolve_weights(path_or_repo_id)
        classes = cls.component_classes()
        files = check_pipeline_folder(folder, classes, pipeline=cls.__name__)
        _, optional = cls._get_signature_keys(cls)
        options = {k: files.index[k] for k in optional if k in files.index}
        models = load_components(files, classes, torch_dtype)
        try:
            pipe = cls(**models, **options)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"{folder / MODEL_INDEX}: invalid pipeline settings ({exc}); re-save or re-download the weights") from None
        pipe.register_to_config(_name_or_path=str(path_or_repo_id))
        return pipe.set_fast_paths()

    def with_component(self, key: str, path_or_repo_id):
        """A new pipeline sharing every model of this one except `key`, loaded from a component folder, or
        from the `key` folder of a pipeline folder or Hub repo id; on this pipeline's device and dtype."""
        classes = self.component_classes()
        if key not in classes:
            raise MofrrError(f"unknown component {key!r}; choose one of {', '.join(classes)}")
        folder = resolve_weights(path_or_repo_id)
        if (folder / key).is_dir():
            folder = folder / key
        model = load_component(check_component(folder, classes[key]), classes[key], self.dtype).to(self.device)
        _, optional = self._get_signature_keys(self)
        options = {k: self.config[k] for k in optional if k in self.config}
        return type(self)(**{**self.components, key: model}, **options).set_fast_paths(self.fast_paths)

    def set_fast_paths(self, fast_paths: FastPaths = FastPaths()):
        """Use the given inference speed-ups (see `FastPaths`; `PLAIN` for the reference path); returns self.

        Compiling cannot be undone on a pipeline: load a fresh one to go back.
        """
        memory_format = torch.channels_last if fast_paths.channels_last else torch.contiguous_format
        bf16 = fast_paths.cpu_bf16 and cpu_bf16_supported()
        trace_after = 0 if fast_paths.compile else fast_paths.cpu_trace_after
        for key, model in self.components.items():
            model.to(memory_format=memory_format)
            for name, module in model.named_modules(prefix=key):
                traced = _matches(name, self.cpu_traced_modules)
                set_fast_forward(module, bf16 and _matches(name, self.cpu_bf16_modules), trace_after if traced else 0)
            if fast_paths.compile:
                for child in model.children():
                    child.compile()
        self.fast_paths = fast_paths
        return self

    def to(self, *args, **kwargs):
        """`DiffusionPipeline.to(device, dtype)`, without diffusers' spurious float32 warning per model."""
        with quiet_dtype_casts():
            return super().to(*args, **kwargs)

    def max_steps(self) -> int:
        """The most DDIM steps every diffusion component allows (its training timesteps)."""
        return min(m.config.num_train_timesteps for m in self.components.values() if hasattr(m, "scheduler"))

    def sampler(self, steps: int, seed: int, batch: int, callback: Callback | None = None, runs: int = 1) -> Sampler:
        """Sampling settings for `batch` crops taken as faces 0..batch-1 (for their seeds), reporting the
        steps of `runs` sampling runs to `callback(done, total)`; steps and seed are checked."""
        steps = whole_number(steps, "steps", 1, self.max_steps())
        seed = whole_number(seed, "seed", 0)
        return Sampler(steps, seed, list(range(batch)), Progress(steps * runs, callback))

    def to_working(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) crops in [0, 1] resized to the method's working shape, on the pipeline's device and dtype."""
        shape = working_shape(*crops.shape[-2:], self.working_side, self.working_multiple)
        return resize(crops.to(self.device, torch.float32), shape).to(self.dtype)

    # the method's part

    def plan(self, x: torch.Tensor, options: dict, timings: Timings, crops: list[torch.Tensor] | None = None) -> Plan:
        raise NotImplementedError

    def restore(self, x: torch.Tensor, plan: Plan, sampler: Sampler, timings: Timings) -> tuple[torch.Tensor, list[FaceInfo]]:
        raise NotImplementedError

    # the face loop

    def run(self, images, *, steps: int, seed: int, aligned: bool, size: int | None, callback: Callback | None, name, options: dict):
        """Restore one image or a list of them; see the subclasses' `__call__`."""
        steps = whole_number(steps, "steps", 1, self.max_steps())
        seed = whole_number(seed, "seed", 0)
        size = None if size is None else whole_number(size, "size", 64, 4096)
        items, names, batched = image_list(images, name)
        timings = Timings(self.device)
        start = time.perf_counter()
        photos = [to_photo(item, n) for item, n in zip(items, names)]
        with timings.stage("detect_align"):
            jobs = [job for i, (photo, n) in enumerate(zip(photos, names)) for job in face_jobs(photo, i, aligned, size, n)]
        restored, faces = self._restore_jobs(jobs, steps, seed, callback, options, timings)
        with timings.stage("paste_back"):
            images = [self._paste(i, photo, jobs, restored, aligned) for i, photo in enumerate(photos)]
        timings["total"] = time.perf_counter() - start
        options = {"aligned": aligned, "size": size, **options}
        results = [
            RestorationResult(image, [face for job, face in zip(jobs, faces) if job.image == i], self.method, steps, seed, dict(timings), options)
            for i, image in enumerate(images)
        ]
        return results if batched else results[0]

    def _restore_jobs(self, jobs, steps, seed, callback, options, timings) -> tuple[list[np.ndarray], list[FaceResult]]:
        """Restore every job, batched by working shape; returns each job's restored crop and FaceResult."""
        crops = [crop_tensor(job.crop, self.device) for job in jobs]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, crop in enumerate(crops):
            groups.setdefault(working_shape(*crop.shape[-2:], self.working_side, self.working_multiple), []).append(i)
        batches = [(rows, torch.cat([self.to_working(crops[i]) for i in rows])) for rows in groups.values()]
        plans = [self.plan(x, options, timings, [crops[i][0] for i in rows]) for rows, x in batches]
        progress = Progress(steps * sum(p.runs for p in plans), callback)
        restored: list = [None] * len(jobs)
        faces: list = [None] * len(jobs)
        for (rows, x), plan in zip(batches, plans):
            sampler = Sampler(steps, seed, [jobs[i].index for i in rows], progress)
            output, infos = self.restore(x, plan, sampler, timings)
            with timings.stage("paste_back"):
                for r, (i, info) in enumerate(zip(rows, infos)):
                    restored[i] = carry_back(crops[i], x[r], output[r])
                    outputs = {key: carry_back(crops[i], x[r], out) for key, out in info.outputs.items()}
                    faces[i] = face_result(jobs[i], info, outputs, restored[i])
        return restored, faces

    @staticmethod
    def _paste(image_index: int, photo: Photo, jobs: list[FaceJob], restored: list[np.ndarray], aligned: bool) -> Photo:
        """The photo with its restored crops pasted back (only their change, feathered); the crop itself when aligned."""
        rgb = photo.rgb
        for job, crop in zip(jobs, restored):
            if job.image == image_index:
                rgb = crop if aligned else paste_back(rgb, crop, job.face.alignment, FEATHER, reference=job.crop)
        return Photo(rgb=np.ascontiguousarray(rgb, dtype=np.float32), alpha=photo.alpha, bit_depth=photo.bit_depth)


def face_result(job: FaceJob, info: FaceInfo, outputs: dict[str, np.ndarray], restored: np.ndarray) -> FaceResult:
    """The public result of one face."""
    face = job.face
    return FaceResult(
        box=None if face is None else tuple(float(v) for v in face.face.box),
        routing=info.routing,
        active=info.active,
        degrees=info.degrees,
        undone=info.undone,
        expert_outputs=outputs,
        restored_crop=restored,
        input_crop=job.crop,
        alignment=None if face is None else face.alignment,
    )
