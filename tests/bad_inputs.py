"""The bad-input corpus, generated (never hand-picked files): every kind of input users send that is
unusual, broken or hostile, with what every path (CLI, Python API, Gradio, ComfyUI nodes) must answer.

`write_files(folder)` writes the file cases (FILES); `photo_cases(folder)` are those a decoder turns into
pixels (what ComfyUI's image loader would hand the nodes); TENSORS are arrays, tensors and PIL images for
the Python API, IMAGES are IMAGE inputs for the nodes. Each case says what is expected: an error naming
the input with words of the message, or a restored photo with a number of faces.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SIDE = 300  # the good variants are small photos, so every path runs them quickly


@dataclass(frozen=True)
class Case:
    """One input. `error`: a regex the one-line error must match (None: it must be restored, with `faces` faces)."""

    name: str
    make: Callable
    error: str | None = None
    faces: int = 1
    size: tuple[int, int] | None = None  # (width, height) of the restored photo, when it is not the stored one

    @property
    def restores(self) -> bool:
        return self.error is None


def _portrait(index: int = 0, width: int = SIDE) -> Image.Image:
    """A real example photo (one face) scaled to `width` pixels wide."""
    img = Image.open(sorted(EXAMPLES.glob("*.jpg"))[index]).convert("RGB")
    return img.resize((width, round(width * img.height / img.width)), Image.LANCZOS)


def _encoded(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png() -> bytes:
    """A 200-byte PNG whose header claims 100000 x 100000 pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" * (1 + 100_000 // 8))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", row) + _png_chunk(b"IEND", b"")


def _exif_rotated() -> bytes:
    """The portrait stored lying on its side, with EXIF orientation 6 to stand it up (a phone photo)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encoded(_portrait().transpose(Image.ROTATE_90), "JPEG", exif=exif, quality=92)


def _deep_png() -> bytes:
    rgb16 = np.asarray(_portrait(), np.uint16) * 257
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb16[..., ::-1]))
    assert ok
    return data.tobytes()


def _rgba() -> bytes:
    img = _portrait()
    alpha = Image.linear_gradient("L").resize(img.size)
    return _encoded(Image.merge("RGBA", (*img.split(), alpha)), "PNG")


def _animated_gif() -> bytes:
    frames = [_portrait(i, 200).convert("P") for i in range(3)]
    return _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _wall(side: int = 160) -> bytes:
    """A textured photo without a face (small: with no face found, the slower CNN detector also looks)."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.random((side, side, 3)).astype(np.float32), (0, 0), 6)
    ramp = np.linspace(0.2, 0.8, side, dtype=np.float32)[None, :, None]
    return _encoded(Image.fromarray(np.uint8(np.clip(ramp + (noise - 0.5), 0, 1) * 255)), "PNG")


def _grid(columns: int, rows: int, tile: int, gap: int = 0, background=(125, 130, 140)) -> Image.Image:
    """Distinct example portraits in a grid, `tile` pixels wide each, on a plain background."""
    people = len(list(EXAMPLES.glob("*.jpg")))
    tiles = [_portrait(i % people, tile) for i in range(columns * rows)]
    height = tiles[0].height
    canvas = Image.new("RGB", (columns * (tile + gap) + gap, rows * (height + gap) + gap), background)
    for i, t in enumerate(tiles):
        where = (gap + (i % columns) * (tile + gap), gap + (i // columns) * (height + gap))
        canvas.paste(t if i < people else t.transpose(Image.FLIP_LEFT_RIGHT), where)
    return canvas


def _border_face() -> bytes:
    """The portrait with the left half of the face cut off by the frame."""
    img = _portrait()
    return _encoded(img.crop((img.width // 2, 0, img.width, img.height)), "PNG")


def _truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _float_tiff(scale: float, hole: float | None = None) -> bytes:
    """A 32-bit float grayscale TIFF of the portrait (values times `scale`), optionally with a patch of `hole` values."""
    arr = np.asarray(_portrait().convert("L"), np.float32) / 255 * scale
    if hole is not None:
        arr[10:20, 10:20] = hole
    return _encoded(Image.fromarray(arr, "F"), "TIFF")


FILES: list[tuple[str, Case]] = [
    ("notes.png", Case("not an image", lambda: b"these are not the pixels you are looking for\n" * 20, r"not an image file")),
    ("empty.jpg", Case("empty file", lambda: b"", r"not an image file")),
    ("truncated_png.png", Case("truncated PNG", lambda: _truncated(_encoded(_portrait(), "PNG"), 0.5), r"damaged or truncated")),
    ("truncated_jpeg.jpg", Case("truncated JPEG", lambda: _truncated(_encoded(_portrait(), "JPEG"), 0.3), r"damaged or truncated")),
    ("bomb.png", Case("decompression bomb", _bomb_png, r"too many pixels to decode safely")),
    ("one_pixel.png", Case("1x1", lambda: _encoded(Image.new("RGB", (1, 1), "gray"), "PNG"), r"1x1, too small to hold a face")),
    ("icon.png", Case("16x16", lambda: _encoded(_portrait(0, 16).crop((0, 0, 16, 16)), "PNG"), r"16x16, too small to hold a face")),
    ("huge.png", Case("20000x20000", lambda: _encoded(Image.new("1", (20000, 20000)), "PNG"), r"too many pixels to decode safely")),
    ("big.png", Case("9000x8000 (72 MP)", lambda: _encoded(Image.new("L", (9000, 8000)), "PNG"), r"over the 64 MP limit; downscale it first")),
    ("gray.jpg", Case("grayscale", lambda: _encoded(_portrait().convert("L"), "JPEG", quality=92))),
    ("palette.png", Case("palette", lambda: _encoded(_portrait().convert("P", palette=Image.ADAPTIVE), "PNG"))),
    ("rgba.png", Case("RGBA", _rgba)),
    ("deep.png", Case("16-bit PNG", _deep_png)),
    ("cmyk.jpg", Case("CMYK JPEG", lambda: _encoded(_portrait().convert("CMYK"), "JPEG", quality=92))),
    ("rotated.jpg", Case("EXIF-rotated photo", _exif_rotated, size=(SIDE, SIDE * 4 // 3))),
    ("animated.gif", Case("animated GIF", _animated_gif, r"animated \(3 frames\)")),
    ("nan.tif", Case("float TIFF holding NaN", lambda: _float_tiff(1.0, float("nan")), r"NaN or infinite")),
    ("float255.tif", Case("float TIFF in 0..255", lambda: _float_tiff(255.0), r"scale the image to \[0, 1\]")),
    ("wall.png", Case("no face", _wall, r"no face found")),
    ("crowd.jpg", Case("many faces (12)", lambda: _encoded(_grid(4, 3, 150), "JPEG", quality=92), faces=12)),
    ("tiny_faces.png", Case("tiny faces", lambda: _encoded(_grid(3, 1, 40, gap=60), "PNG"), faces=3)),
    ("border.png", Case("face cut by the border", _border_face)),
]


def check_message(message: str, case: Case, name: str) -> None:
    """A clear refusal: one line naming the input, with the expected words, and no traceback."""
    assert "\n" not in message.strip() and "Traceback" not in message and len(message) < 400, (case.name, message)
    assert name in message, (case.name, name, message)
    assert re.search(case.error, message), (case.name, case.error, message)


def write_files(folder: Path) -> dict[str, Case]:
    """Write every file case into `folder`; returns file name -> case."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename, case in FILES:
        (folder / filename).write_bytes(case.make())
    return dict(FILES)


def photo_cases(folder: Path) -> dict[str, tuple[Path, Case]]:
    """The decodable file cases (what an image loader would turn into pixels): name -> (path, case)."""
    from mofrr_core.errors import ImageError
    from mofrr_core.imageio import load_photo

    out = {}
    for filename, case in write_files(folder).items():
        try:
            load_photo(folder / filename)
        except ImageError:
            continue
        out[filename] = (folder / filename, case)
    return out


def _tensor(shape, fill=0.5, dtype=torch.float32) -> torch.Tensor:
    return torch.full(shape, fill, dtype=dtype)


def _with(value: float) -> torch.Tensor:
    t = torch.rand((128, 128, 3), generator=torch.Generator().manual_seed(0))
    t[40:50, 60:70] = value
    return t


# Arrays and tensors for the Python API (one image each; H x W x C unless said otherwise)
TENSORS: list[Case] = [
    Case("NaN values", lambda: _with(float("nan")), r"NaN or infinite"),
    Case("+inf values", lambda: _with(float("inf")), r"NaN or infinite"),
    Case("-inf values", lambda: _with(float("-inf")), r"NaN or infinite"),
    Case("values in 0..255", lambda: _tensor((128, 128, 3), 200.0), r"scale the image to \[0, 1\]"),
    Case("two channels", lambda: _tensor((128, 128, 2)), r"is not an image"),
    Case("five channels, channels first", lambda: _tensor((5, 128, 128)), r"is not an image"),
    Case("one row", lambda: _tensor((1, 128, 3)), r"too small"),
    Case("5-D tensor", lambda: _tensor((1, 1, 128, 128, 3)), r"is not an image"),
    Case("empty batch", lambda: _tensor((0, 128, 128, 3)), r"no images given"),
    Case("empty image", lambda: _tensor((0, 0, 3)), r"too small"),
    Case("a sparse tensor", lambda: _tensor((128, 128, 3)).to_sparse(), None),
    Case("a complex tensor", lambda: _tensor((128, 128, 3), dtype=torch.complex64), r"unsupported tensor dtype"),
    Case("integer array", lambda: np.full((128, 128, 3), 7, np.int32), r"unsupported array dtype int32"),
    Case("object array", lambda: np.full((128, 128, 3), None, object), r"unsupported array dtype object"),
    Case("a truncated PIL image", lambda: Image.open(io.BytesIO(_truncated(_encoded(_portrait(), "PNG"), 0.5))), r"damaged or truncated"),
    Case("an animated PIL image", lambda: Image.open(io.BytesIO(_animated_gif())), r"animated \(3 frames\)"),
    Case("a string", lambda: "photo.jpg", r"cannot use a str as an image"),
    Case("None", lambda: None, r"cannot use a NoneType as an image"),
]

# IMAGE inputs for the ComfyUI nodes ([batch, height, width, channels] floats in [0, 1])
IMAGES: list[Case] = [
    Case("NaN values", lambda: _with(float("nan"))[None], r"NaN or infinite"),
    Case("+inf values", lambda: _with(float("inf"))[None], r"NaN or infinite"),
    Case("-inf values", lambda: _with(float("-inf"))[None], r"NaN or infinite"),
    Case("values in 0..255", lambda: _tensor((1, 128, 128, 3), 200.0), r"scale the image to \[0, 1\]"),
    Case("channels first [B, C, H, W]", lambda: _tensor((1, 3, 128, 128)), r"expected an IMAGE \[batch, height, width, channels\]"),
    Case("no batch dimension", lambda: _tensor((128, 128, 3)), r"expected an IMAGE"),
    Case("two channels", lambda: _tensor((1, 128, 128, 2)), r"expected an IMAGE"),
    Case("5-D tensor", lambda: _tensor((1, 1, 128, 128, 3)), r"expected an IMAGE"),
    Case("empty batch", lambda: _tensor((0, 128, 128, 3)), r"expected an IMAGE"),
    Case("16x16 images", lambda: _tensor((1, 16, 16, 3)), r"too small"),
    Case("integer pixels", lambda: _tensor((1, 128, 128, 3), 200, torch.int32), r"unsupported tensor dtype int32"),
    Case("a numpy array", lambda: np.full((1, 128, 128, 3), 0.5, np.float32), r"expected an IMAGE"),
]


def decoded_size(path: Path, case: Case) -> tuple[int, int]:
    """(width, height) a restored version of a good file case must have."""
    from mofrr_core.imageio import load_photo

    return case.size or load_photo(path).size


def check_cli_answers(result, folder, cases, out, what: str) -> int:
    """Every input of a CLI run answered: one `error:` line per unusable file, an output (same size, every face)
    per good one, exit code 1, no traceback; returns how many inputs were checked."""
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error: ")]
    for filename, case in cases.items():
        mine = [line for line in errors if line.startswith(f"{filename}: ")]
        if case.restores:
            assert not mine, mine
            assert Image.open(out / f"{Path(filename).stem}.png").size == decoded_size(folder / filename, case), case.name
            report = json.loads((out / f"{Path(filename).stem}.json").read_text())
            assert len(report["faces"]) == case.faces, (what, case.name)
        else:
            assert len(mine) == 1, (what, case.name, errors)
            check_message(mine[0], case, filename)
    assert len(errors) == sum(not c.restores for c in cases.values())
    return len(cases)
