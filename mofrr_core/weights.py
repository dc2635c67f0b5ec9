"""Finding and safely loading pipeline weights: safetensors only, every problem one clear line.

A pipeline folder is what `DiffusionPipeline.save_pretrained` writes: `model_index.json` and
one sub-folder per component holding `config.json` and `diffusion_pytorch_model.safetensors`.
Nothing here ever unpickles: pickle-based files (`.bin`, `.pt`, `.ckpt`, ...) are refused, and
a pickle renamed to `.safetensors` is recognised from its first bytes. Every safetensors header
is parsed and checked (offsets, sizes, dtypes) before any tensor is read, and the tensors are
checked against a model built from the component's `config.json` (on the meta device).

A release folder (the bundled `weights/`, or what `mofrr train export` writes) carries a
`SHA256SUMS` manifest (`sha256sum` format) of its weights and config files; a folder it covers is
verified against it before anything is read, so a changed, damaged, missing or added file is one
clear error. `write_manifest` regenerates it (the export does so after writing the weights).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import WeightsError

MODEL_INDEX = "model_index.json"
CONFIG = "config.json"
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "model.safetensors")
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
HUB_PATTERNS = ["*.json", "*.safetensors", "*.md"]
METHODS = ("mofrr", "frrffusion")
MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own limit

# safetensors dtype name -> (bytes per element, is floating point)
DTYPES = {
    "BOOL": (1, False), "U8": (1, False), "I8": (1, False), "U16": (2, False), "I16": (2, False),
    "U32": (4, False), "I32": (4, False), "U64": (8, False), "I64": (8, False),
    "F8_E4M3": (1, False), "F8_E5M2": (1, False),  # loadable but not a usable weight dtype here
    "F16": (2, True), "BF16": (2, True), "F32": (4, True), "F64": (8, True),
}
REDOWNLOAD = "re-save or re-download the weights"
MANIFEST = "SHA256SUMS"
MANIFEST_SUFFIXES = (".safetensors", ".json")
MANIFEST_LEVELS = 2  # a manifest in a release folder covers its pipeline folders and their component folders
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
BUNDLED = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class TensorInfo:
    """One tensor entry of a safetensors header."""

    dtype: str
    shape: tuple[int, ...]


@dataclass
class ComponentFiles:
    """A checked component folder: its config and its weights file with the parsed header."""

    name: str
    config: dict
    weights: Path
    tensors: dict[str, TensorInfo]


@dataclass
class PipelineFiles:
    """A checked pipeline folder: `model_index.json` and every expected component."""

    folder: Path
    index: dict
    components: dict[str, ComponentFiles]


def _fail(path: Path | str, problem: str) -> WeightsError:
    return WeightsError(f"{path}: {problem}")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise _fail(path, f"missing; the weights folder is incomplete; {REDOWNLOAD}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(path, f"not valid JSON ({_one_line(exc)}); {REDOWNLOAD}") from None
    if not isinstance(data, dict):
        raise _fail(path, f"not a JSON object; {REDOWNLOAD}")
    return data


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _looks_pickled(head: bytes) -> bool:
    """A zip archive (torch.save's default format) or a raw pickle stream (protocol 2 to 5)."""
    return head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def _bad_header(path: Path, head: bytes, problem: str) -> WeightsError:
    if _looks_pickled(head):
        return _fail(path, "is a pickle (e.g. a torch.save checkpoint) renamed to .safetensors; pickles are refused because "
                           "loading them can run code; convert it with safetensors.torch.save_file")
    return _fail(path, f"{problem}; {REDOWNLOAD}")


def _as_int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _parse_entry(key: str, entry) -> tuple[TensorInfo, int, int]:
    """(info, begin, end) of one header entry; raises ValueError naming what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError(f"entry {key!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"tensor {key!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or any(_as_int(s) is None for s in shape):
        raise ValueError(f"tensor {key!r} has an invalid shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or any(_as_int(o) is None for o in offsets) or offsets[0] > offsets[1]:
        raise ValueError(f"tensor {key!r} has invalid data offsets {offsets!r}")
    numel = 1
    for s in shape:
        numel *= s
    if offsets[1] - offsets[0] != numel * DTYPES[dtype][0]:
        raise ValueError(f"tensor {key!r} spans {offsets[1] - offsets[0]} bytes but its dtype and shape need {numel * DTYPES[dtype][0]}")
    return TensorInfo(dtype, tuple(shape)), offsets[0], offsets[1]


def read_header(path: str | Path) -> dict[str, TensorInfo]:
    """Parse and check a safetensors header without reading tensor data; WeightsError if unusable.

    Checks the 8-byte header length, the UTF-8 JSON header, every entry's dtype, shape and
    offsets, and that the tensors tile the data region exactly (which catches truncation).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else None
            raw = f.read(n) if n is not None and n <= min(MAX_HEADER_BYTES, size - 8) else None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({_one_line(exc)}); check the file and its permissions") from None
    if size == 0:
        raise _fail(path, f"is empty (0 bytes); {REDOWNLOAD}")
    if raw is None:
        claimed = "" if n is None else f" (its header claims {n} bytes, the file has {size})"
        raise _bad_header(path, head, f"is truncated or not a safetensors file{claimed}")
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError("its __metadata__ is not a string map")
        entries = {key: _parse_entry(key, entry) for key, entry in header.items()}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad_header(path, head, f"has a corrupt header ({_one_line(exc)})") from None
    end = 0
    for key, (_, begin, stop) in sorted(entries.items(), key=lambda item: item[1][1:]):
        if begin != end:
            raise _bad_header(path, head, f"has a corrupt header (tensor {key!r} starts at byte {begin}, expected {end})")
        end = stop
    data = size - 8 - len(raw)
    if end > data:
        raise _fail(path, f"is truncated (its tensors need {end} bytes of data, the file has {data}); {REDOWNLOAD}")
    if end < data:
        raise _fail(path, f"has {data - end} unexpected bytes after its tensors; the file is corrupt; {REDOWNLOAD}")
    return {key: info for key, (info, _, _) in entries.items()}


def _weights_file(folder: Path) -> Path:
    """The component's safetensors file; refuse pickle-based files found instead."""
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    unsafe = sorted(p for p in folder.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
    if unsafe:
        raise _fail(unsafe[0], "pickle-based weights are refused because loading them can run code; "
                               "convert them to .safetensors (safetensors.torch.save_file) or use a safetensors release")
    raise _fail(folder / WEIGHT_NAMES[0], f"missing; the weights folder is incomplete; {REDOWNLOAD}")


def _check_class(path: Path, config: dict, expected: str) -> None:
    found = config.get("_class_name")
    if found is not None and found != expected:
        raise _fail(path, f"describes a {found}, expected a {expected}; pass the weights of the right method")


def _expected_tensors(cls: type, config: dict, path: Path) -> dict[str, torch.Tensor]:
    """State dict of `cls` built from `config` on the meta device (no memory, no init)."""
    try:
        with torch.device("meta"):
            return cls.from_config(config).state_dict()
    except Exception as exc:  # a config that cannot build the model: user data, not a bug
        raise _fail(path, f"does not describe a valid {cls.__name__} ({_one_line(exc)}); {REDOWNLOAD}") from None


def _compare(weights: Path, found: Mapping[str, TensorInfo], expected: Mapping[str, torch.Tensor]) -> None:
    missing = [k for k in expected if k not in found]
    if missing:
        raise _fail(weights, f"tensor {missing[0]!r} is missing ({len(missing)} missing in all); the file does not match "
                             f"its config.json; {REDOWNLOAD}")
    extra = [k for k in found if k not in expected]
    if extra:
        raise _fail(weights, f"unexpected tensor {extra[0]!r} ({len(extra)} in all); the file does not match its config.json; {REDOWNLOAD}")
    for key, tensor in expected.items():
        info = found[key]
        if info.shape != tuple(tensor.shape):
            raise _fail(weights, f"tensor {key!r} has shape {list(info.shape)}, expected {list(tensor.shape)} from config.json; "
                                 f"the weights belong to another configuration; {REDOWNLOAD}")
        if DTYPES[info.dtype][1] != tensor.is_floating_point():
            kind = "a float type (F16, BF16, F32, F64)" if tensor.is_floating_point() else "an integer type"
            raise _fail(weights, f"tensor {key!r} has dtype {info.dtype}, expected {kind}; {REDOWNLOAD}")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_files(root: Path) -> list[Path]:
    """The files a manifest lists: every weights and config file under `root`, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def write_manifest(root: str | Path) -> Path:
    """Write `root/SHA256SUMS` listing every weights and config file under `root` (checkable with `sha256sum -c`)."""
    root = Path(root)
    lines = [f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in _manifest_files(root)]
    (root / MANIFEST).write_text("".join(lines), encoding="utf-8")
    return root / MANIFEST


def read_manifest(path: str | Path) -> dict[str, str]:
    """Relative path -> hex SHA-256 of a manifest; WeightsError when it is not one."""
    path = Path(path)
    entries = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({_one_line(exc)}); {REDOWNLOAD}") from None
    for number, line in enumerate(lines, 1):
        digest, _, name = line.partition("  ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name or name.startswith("/") or ".." in Path(name).parts:
            raise _fail(path, f"line {number} is not '<sha256>  <relative path>'; the manifest is corrupt; {REDOWNLOAD}")
        entries[name] = digest
    return entries


def find_manifest(folder: str | Path) -> tuple[Path, str] | None:
    """(manifest, `folder`'s path relative to the manifest's folder) of the manifest covering `folder`, if any.

    A manifest covers the folders it lists files in, from its own folder down to `MANIFEST_LEVELS` below.
    """
    folder = Path(folder).resolve()
    for root in [folder, *folder.parents][: MANIFEST_LEVELS + 1]:
        manifest = root / MANIFEST
        if manifest.is_file():
            prefix = folder.relative_to(root).as_posix()
            prefix = "" if prefix == "." else prefix + "/"
            if any(name.startswith(prefix) for name in read_manifest(manifest)):
                return manifest, prefix
    return None


def verify_manifest(folder: str | Path) -> Path | None:
    """Check every weights and config file under `folder` against the manifest covering it (if any).

    Returns the manifest used (None when no manifest covers the folder); WeightsError names the
    first file that is missing, changed or not listed.
    """
    found = find_manifest(folder)
    if found is None:
        return None
    manifest, prefix = found
    root = manifest.parent
    listed = {name: digest for name, digest in read_manifest(manifest).items() if name.startswith(prefix)}
    regenerate = f"{REDOWNLOAD} (after exporting weights yourself, regenerate it with mofrr_core.weights.write_manifest)"
    for name, digest in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            raise _fail(path, f"listed in {manifest} but missing; the weights folder is incomplete; {REDOWNLOAD}")
        if sha256_file(path) != digest:
            raise _fail(path, f"its SHA-256 does not match {manifest}; the file was changed or damaged; {regenerate}")
    for path in _manifest_files(Path(folder).resolve()):
        if path.relative_to(root).as_posix() not in listed:
            raise _fail(path, f"not listed in {manifest}; it is not part of these weights: remove it, or {regenerate}")
    return manifest


def check_component(folder: str | Path, cls: type | None = None) -> ComponentFiles:
    """Check one component folder (manifest, config, weights file, header; shapes and dtypes when `cls` is given)."""
    verify_manifest(folder)
    return _check_component(Path(folder), cls)


def _check_component(folder: Path, cls: type | None) -> ComponentFiles:
    if not folder.is_dir():
        raise _fail(folder, f"component folder missing; the weights folder is incomplete; {REDOWNLOAD}")
    config = _read_json(folder / CONFIG)
    weights = _weights_file(folder)
    tensors = read_header(weights)
    if cls is not None:
        _check_class(folder / CONFIG, config, cls.__name__)
        _compare(weights, tensors, _expected_tensors(cls, config, folder / CONFIG))
    return ComponentFiles(folder.name, config, weights, tensors)


def check_pipeline_folder(
    folder: str | Path, expected_components: Mapping[str, type] | list[str] | tuple[str, ...], pipeline: str | None = None
) -> PipelineFiles:
    """Check a saved pipeline without reading any tensor data; WeightsError names the first problem.

    `expected_components`: component names, or names -> model classes (then every tensor's shape
    and dtype is checked against a model built from the component's config). `pipeline`: the
    expected `_class_name` of `model_index.json`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise _fail(folder, "no such weights folder; pass the folder written by save_pretrained or a Hugging Face repo id")
    verify_manifest(folder)
    index = _read_json(folder / MODEL_INDEX)
    if pipeline is not None:
        _check_class(folder / MODEL_INDEX, index, pipeline)
    classes = expected_components if isinstance(expected_components, Mapping) else dict.fromkeys(expected_components)
    components = {name: _check_component(folder / name, cls) for name, cls in classes.items()}
    return PipelineFiles(folder, index, components)


def _load_tensors(files: ComponentFiles) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(files.weights))
    except Exception as exc:  # the safetensors reader's own checks: report, never crash
        raise _fail(files.weights, f"cannot be read as safetensors ({_one_line(exc)}); {REDOWNLOAD}") from None
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != files.tensors[key].shape:
            raise _fail(files.weights, f"tensor {key!r} changed while loading; the file is being written or is corrupt")
    return tensors


@contextmanager
def quiet_dtype_casts():
    """Silence diffusers' "modules that should be kept in float32: []" warning, which every
    `ModelMixin.to(dtype)` logs even when there are no such modules."""
    logger = logging.getLogger("diffusers.models.modeling_utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_component(files: ComponentFiles, cls: type, dtype: torch.dtype | None = None):
    """Build `cls` from the checked config and copy the checked tensors into it (fresh, aligned memory).

    Tensors are cast to the model's parameter dtype (float32 unless `dtype` is given), so fp16
    releases load into float32 models.
    """
    from diffusers.models.modeling_utils import no_init_weights

    try:
        with no_init_weights():
            model = cls.from_config(files.config)
    except Exception as exc:
        raise _fail(files.weights.parent / CONFIG, f"does not describe a valid {cls.__name__} ({_one_line(exc)}); {REDOWNLOAD}") from None
    if dtype is not None:
        with quiet_dtype_casts():
            model.to(dtype)
    with torch.no_grad():
        model.load_state_dict(_load_tensors(files), strict=True)
    return model.train(False)


def load_model(folder: str | Path, cls: type, dtype: torch.dtype | None = None):
    """A model saved alone (`save_pretrained` of one model): checked like a component, then loaded."""
    return load_component(check_component(folder, cls), cls, dtype)


def load_components(files: PipelineFiles, classes: Mapping[str, type], dtype: torch.dtype | None = None) -> dict:
    """Every component of a checked pipeline folder, loaded."""
    return {name: load_component(files.components[name], cls, dtype) for name, cls in classes.items()}


def _hub_not_found(source: str) -> WeightsError:
    return WeightsError(f"{source}: not found locally or in the Hugging Face cache; download it first or pass a local folder")


def resolve_weights(path_or_repo_id: str | Path) -> Path:
    """A local folder as is; else the Hugging Face snapshot of a repo id (offline from the cache with HF_HUB_OFFLINE=1)."""
    source = str(path_or_repo_id)
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise _fail(path, "is a file, not a weights folder; pass the folder that holds model_index.json")
    if not REPO_ID.match(source):
        raise _hub_not_found(source)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, allow_patterns=HUB_PATTERNS))
    except Exception:  # no network, unknown repo, empty cache, invalid id: all the same advice
        raise _hub_not_found(source) from None


def default_weights(method: str) -> Path:
    """The bundled weights `<repo root>/weights/<method>`; WeightsError when there are none yet."""
    if method not in METHODS:
        raise WeightsError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    folder = BUNDLED / method
    if not (folder / MODEL_INDEX).is_file():
        raise WeightsError(f"no bundled weights for {method} yet; pass --weights PATH_OR_REPO_ID")
    if not (BUNDLED / MANIFEST).is_file():
        raise _fail(BUNDLED / MANIFEST, f"missing: the bundled weights cannot be verified; restore the file from the release ({REDOWNLOAD})")
    return folder
