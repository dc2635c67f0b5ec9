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
                        "experts, merge, paste back) and reports per face what the router found.",
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
        from . import runtime

        photos = runtime.photos(image, "image")
        results = pipeline(
            photos, steps=steps, seed=seed, gating=gating, threshold=threshold, experts=widgets.experts_option(experts),
            aligned=aligned, size=size or None, callback=runtime.progress(), name="image",
        )
        restored = runtime.to_image([runtime.with_alpha(r.image) for r in results])
        return io.NodeOutput(restored, runtime.to_json([r.to_dict() for r in results]))
