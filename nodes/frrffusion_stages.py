"""FRRffusion stage nodes on aligned crops: the coarse stage (FMAR) and the fine stage (HFDG).

Chained, they compute exactly what the FRRffusion pipeline computes for the same crops, steps
and seed (each crop seeded as the face of its batch row).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import widgets
from .api import io
from .links import CoarseLink, FRRffusionPipelineLink

CATEGORY = "mofrr/FRRffusion"


@dataclass
class Coarse:
    """The FRRFFUSION_COARSE link: FMAR's low-resolution restoration of each crop, and the working shape it was made at."""

    low: object
    shape: tuple


class FRRffusionCoarse(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrFRRffusionCoarse",
            display_name="FRRffusion coarse (FMAR)",
            category=CATEGORY,
            description="Restores the face structure of each crop with FMAR, a diffusion model at low resolution.",
            inputs=[FRRffusionPipelineLink.Input("pipeline"), io.Image.Input("crops"), widgets.steps(), widgets.seed()],
            outputs=[io.Image.Output("image", display_name="image"), CoarseLink.Output("coarse", display_name="coarse")],
        )

    @classmethod
    def execute(cls, pipeline, crops, steps=10, seed=0) -> io.NodeOutput:
        from mofrr_core.models.ops import resize

        from . import runtime

        rgb, x = runtime.crops_in(pipeline, crops)
        low = pipeline.coarse(x, pipeline.sampler(steps, seed, len(x), runtime.progress()))
        return io.NodeOutput(runtime.crops_out(rgb, x, resize(low, x.shape[-2:])), Coarse(low, tuple(x.shape)))


class FRRffusionFine(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrFRRffusionFine",
            display_name="FRRffusion fine (HFDG)",
            category=CATEGORY,
            description="Restores high-resolution detail: HFDG super-resolves the coarse result, guided by the retouched crops.",
            inputs=[FRRffusionPipelineLink.Input("pipeline"), io.Image.Input("crops"), CoarseLink.Input("coarse")],
            outputs=[io.Image.Output("restored", display_name="restored")],
        )

    @classmethod
    def execute(cls, pipeline, crops, coarse: Coarse) -> io.NodeOutput:
        from mofrr_core.errors import MofrrError

        from . import runtime

        rgb, x = runtime.crops_in(pipeline, crops)
        runtime.same_batch(len(x), len(coarse.low), "coarse")
        if coarse.shape != tuple(x.shape):
            raise MofrrError("coarse: made from crops of another size; connect the coarse stage run on these crops")
        return io.NodeOutput(runtime.crops_out(rgb, x, pipeline.fine(coarse.low, x)))
