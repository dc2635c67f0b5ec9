"""The restore tab's work: run a pipeline on an uploaded photo and turn its result into the page's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd

from mofrr_core.deadline import Deadline
from mofrr_core.heatmap import change_heatmap
from mofrr_core.imageio import save_photo
from mofrr_core.pipelines import RestorationResult

from .errors import user_errors
from .loader import Pipelines
from .outputs import Outputs, png
from .uploads import load_upload

FACE_COLUMNS = ["face", "box (x0, y0, x1, y1)", "active experts", "undone (unsmooth, unwarp)", "router probability", "degree"]
NETWORK_NAMES = {"shared": "shared expert", "fmar": "FMAR coarse stage"}
HEATMAP_UNDERLAY = 0.3  # a dim copy of the photo under the heat map, to see where the changes are


def whole(value):
    """A whole-number float (as sliders may send) as an int; anything else as is, for the core to check."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _numbers(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in values.items()) or "-"


def face_rows(result: RestorationResult) -> list[list]:
    """One table row per face: where it is, which experts ran, what unsmooth and unwarp undid, the router's
    probabilities and the degrees."""
    return [
        [i, "aligned input" if face.box is None else ", ".join(f"{v:.0f}" for v in face.box), ", ".join(face.active) or "-",
         ", ".join(face.undone) or "-", _numbers(face.routing), _numbers(face.degrees)]
        for i, face in enumerate(result.faces, 1)
    ]


def expert_gallery(result: RestorationResult, folder: Path) -> list[tuple[str, str]]:
    """Per face: the input crop, what each network produced, the restored crop, as captioned PNGs in `folder`."""
    items = []
    for i, face in enumerate(result.faces, 1):
        crops = [("input", face.input_crop)]
        crops += [(NETWORK_NAMES.get(name, name + " expert"), out) for name, out in face.expert_outputs.items()]
        crops.append(("restored", face.restored_crop))
        items += [(png(crop, folder / f"face{i}_{k}.png"), f"face {i}: {what}") for k, (what, crop) in enumerate(crops)]
    return items


def degree_table(result: RestorationResult) -> pd.DataFrame | None:
    """The first (largest) face's degree per retouch type, for the bar chart (None for FRRffusion)."""
    degrees = result.faces[0].degrees if result.faces else {}
    return pd.DataFrame({"retouch type": list(degrees), "degree": list(degrees.values())}) if degrees else None


class Restorer:
    """The `/restore` endpoint: photo and settings in, every view of the result out, as files in a fresh folder of
    `outputs`. Each call may work `timeout_s` seconds (checked at every sampling step)."""

    def __init__(self, pipelines: Pipelines, outputs: Outputs, timeout_s: float | None = None):
        self.pipelines, self.outputs, self.timeout_s = pipelines, outputs, timeout_s

    def __call__(self, photo, method, steps, seed, aligned, gating, threshold, experts, progress=gr.Progress()):
        """Restore every face of `photo` (or the aligned crop) with `method`; see the page for each setting.

        Returns, in the event's output order: (before, after), heat map, the largest face's routing,
        its degrees, the expert gallery, the per-face table, [restored PNG, JSON report], the report.
        """
        deadline = Deadline(self.timeout_s)
        with user_errors():
            image, name = load_upload(photo, "photo")
            pipe = self.pipelines.get(method)
            options = dict(gating=gating, threshold=threshold, experts=list(experts or []) or None) if method == "mofrr" else {}
            progress(0, desc="finding faces")
            result = pipe(
                image, steps=whole(steps), seed=whole(seed), aligned=bool(aligned), name=name, **options,
                callback=deadline.around(lambda done, total: progress((done, total), desc="denoising", unit="steps")),
            )
        report = {"input": name, "weights": self.pipelines.source(method), **result.to_dict()}
        folder = self.outputs.folder()
        first = result.faces[0].routing if result.faces else {}
        return (
            (png(image.rgb, folder / "before.png"), png(result.image.rgb, folder / "after.png")),
            png(change_heatmap(image.rgb, result.image.rgb, underlay=HEATMAP_UNDERLAY)[0], folder / "heatmap.png"),
            first or None,
            degree_table(result),
            expert_gallery(result, folder),
            face_rows(result),
            self._save(result, report, name, folder),
            report,
        )

    @staticmethod
    def _save(result: RestorationResult, report: dict, name: str, folder: Path) -> list[str]:
        """The restored photo (lossless PNG, alpha and depth kept) and the JSON report, for download."""
        stem = Path(name).stem or "photo"
        restored = save_photo(result.image, folder / f"{stem}_restored.png")
        report_path = folder / f"{stem}_restored.json"
        report_path.write_text(json.dumps({**report, "output": restored.name}, indent=2))
        return [str(restored), str(report_path)]
