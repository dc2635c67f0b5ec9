"""Retouch nodes: the beautify simulator (to make test inputs with known edits) and the report of a restoration."""

from __future__ import annotations

import json

from mofrr_core.types import RETOUCH_TYPES

from .api import io

CATEGORY = "mofrr/retouch"
UNDERLAY = 0.3  # a dim copy of the restored photo under the heat map, as in the Gradio app


class RetouchSimulator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrRetouchSimulator",
            display_name="Retouch simulator",
            category=CATEGORY,
            description="Applies simulated beautify-app retouching (whitening, smoothing, face slimming, eye enlargement; "
                        "strength 0-100 each, in that order) to every face, and records exactly what was done. An image of the "
                        "batch without a face comes out unchanged and its record says so.",
            inputs=[
                io.Image.Input("image"),
                *(io.Float.Input(t, default=0.0, min=0.0, max=100.0, step=1.0, tooltip=f"{t} strength (0: off)") for t in RETOUCH_TYPES),
                io.Int.Input("seed", default=0, min=0, max=2**63 - 1, control_after_generate=True, tooltip="draws each filter's hidden parameters"),
            ],
            outputs=[io.Image.Output("retouched", display_name="retouched"), io.String.Output("record", display_name="record")],
        )

    @classmethod
    def execute(cls, image, seed=0, **strengths) -> io.NodeOutput:
        import numpy as np

        from mofrr_core.batch import each_item, unless_all_failed
        from mofrr_core.face_pipeline import edit_faces
        from mofrr_core.retouch import retouch

        from . import runtime

        ops = [(t, float(strengths.get(t, 0.0))) for t in RETOUCH_TYPES]
        photos = runtime.photos(image, "image")
        names = [f"image[{i}]" for i in range(len(photos))]

        def retouch_photo(item, name):
            (i, photo), faces = item, []

            def edit(face, index):
                crop, record = retouch(face.crop, face.landmarks, ops, np.random.default_rng([seed, i, index]))
                faces.append({"box": [float(v) for v in face.face.box], **record.to_dict()})
                return crop

            result, _ = edit_faces(photo, edit, name=name)
            return result, {"seed": seed, "faces": faces}

        outcomes = unless_all_failed(each_item(list(enumerate(photos)), names, retouch_photo))
        out = [photo if runtime.failed(o) else o[0] for o, photo in zip(outcomes, photos)]
        records = [runtime.failure(o, name) if runtime.failed(o) else o[1] for o, name in zip(outcomes, names)]
        return io.NodeOutput(runtime.to_image([runtime.with_alpha(p) for p in out]), runtime.to_json(records))


def _reports(text: str) -> list:
    """The per-image reports of a JSON report text (a list, or one object)."""
    data = json.loads(text) if text.strip() else []
    data = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in data):
        raise ValueError("not a list of reports")
    return data


def _nth(items: list, i: int):
    return items[i] if i < len(items) else None


def report_text(index: int, scale: float, mean: float, restore: dict | None, record: dict | None) -> str:
    """Readable summary of one image: what was applied, what the router found, how much changed."""
    from .text import faces_text

    lines = [f"image {index}: mean change {mean * 255:.2f}/255, largest {scale * 255:.1f}/255 (heat map scale)"]
    lines += [f"{what} failed: {entry['error']}" for what, entry in (("retouch", record), ("restoration", restore)) if entry and "error" in entry]
    for k, face in enumerate(record.get("faces", []) if record else []):
        applied = ", ".join(f"{op['op']} {op['strength']:g} (level {op['level']})" for op in face.get("ops", [])) or "nothing"
        lines.append(f"face {k} retouched with: {applied}")
    if restore and "error" not in restore:
        lines.append(f"restored with {restore.get('method')}, {restore.get('steps')} steps, seed {restore.get('seed')}")
        if restore.get("method") == "mofrr":
            lines.append(faces_text(restore.get("faces", [])))
    return "\n".join(lines)


class RetouchReport(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrRetouchReport",
            display_name="Retouch report",
            category=CATEGORY,
            description="Shows what a restoration changed (heat map of |restored - retouched|) and, from the connected "
                        "reports, what was retouched and what the router detected.",
            inputs=[
                io.Image.Input("retouched"),
                io.Image.Input("restored"),
                io.String.Input("restore_report", optional=True, force_input=True, tooltip="the report of MoFRR restore"),
                io.String.Input("retouch_record", optional=True, force_input=True, tooltip="the record of the retouch simulator"),
            ],
            outputs=[io.Image.Output("heat_map", display_name="heat_map"), io.String.Output("text", display_name="text")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, retouched, restored, restore_report="", retouch_record="") -> io.NodeOutput:
        from mofrr_core.errors import MofrrError
        from mofrr_core.heatmap import change_heatmap

        from . import runtime

        before, after = runtime.photos(retouched, "retouched"), runtime.photos(restored, "restored")
        runtime.same_batch(len(before), len(after), "restored")
        maps, changes = [], []
        for i, (b, a) in enumerate(zip(before, after)):
            if b.rgb.shape != a.rgb.shape:
                raise MofrrError(f"restored[{i}] is {a.size[0]}x{a.size[1]} but retouched[{i}] is {b.size[0]}x{b.size[1]}; compare images of one size")
            heat, scale = change_heatmap(b.rgb, a.rgb, underlay=UNDERLAY)
            maps.append(heat)
            changes.append((scale, float(abs(a.rgb - b.rgb).mean())))
        try:
            restores, records = _reports(restore_report), _reports(retouch_record)
            text = "\n\n".join(report_text(i, *change, _nth(restores, i), _nth(records, i)) for i, change in enumerate(changes))
        except (ValueError, KeyError, TypeError, AttributeError):  # text from elsewhere than the pack's reports
            raise MofrrError("restore_report / retouch_record: not a report; "
                             "connect the report output of MoFRR restore or the retouch simulator") from None
        return io.NodeOutput(runtime.to_image(maps), text, ui={"text": [text]})
