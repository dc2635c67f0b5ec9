"""The one-node MoFRR restore: whole photos (every face detected, restored and pasted back) or aligned crops."""

from __future__ import annotations

from . import widgets
from .api import io
from .links import MoFRRPipelineLink


class MoFRRRestore(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrRestore",
            display_name="MoFRR restore (all in one)",
            category="mofrr/MoFRR",
            description="Restores every retouched face of each image with the whole MoFRR pipeline (detect, align, route, "
                        "experts, merge, paste back) and reports per face what the router found. An image of the batch "
                        "without a face comes out unchanged and its report says so; with no face in any image the run stops.",
            inputs=[
                MoFRRPipelineLink.Input("pipeline"),
                io.Image.Input("image"),
                widgets.steps(),
                widgets.seed(),
                *widgets.gating(),
                io.Boolean.Input("aligned", default=False, tooltip="the images are already aligned face crops (no detection)"),
                io.Int.Input("size", default=0, min=0, max=1024, step=8, tooltip="aligned crop side for whole photos (0: each face's own resolution)"),
            ],
            outputs=[io.Image.Output("restored", display_name="restored"), io.String.Output("report", display_name="report")],
        )

    @classmethod
    def execute(cls, pipeline, image, steps=10, seed=0, gating="hard", threshold=0.5, experts="", aligned=False, size=0) -> io.NodeOutput:
        from mofrr_core.batch import restore_each, unless_all_failed

        from . import runtime

        photos = runtime.photos(image, "image")
        outcomes = unless_all_failed(restore_each(
            pipeline, photos, steps=steps, seed=seed, gating=gating, threshold=threshold, experts=widgets.experts_option(experts),
            aligned=aligned, size=size or None, callback=runtime.progress(), name="image",
        ))
        restored = [photo if runtime.failed(o) else o.image for o, photo in zip(outcomes, photos)]
        reports = [runtime.failure(o, f"image[{i}]") if runtime.failed(o) else o.to_dict() for i, o in enumerate(outcomes)]
        return io.NodeOutput(runtime.to_image([runtime.with_alpha(p) for p in restored]), runtime.to_json(reports))
