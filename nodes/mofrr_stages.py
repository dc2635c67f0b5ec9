"""MoFRR stage nodes on aligned crops: router, unsmooth, unwarp, one WaveFRR expert, the shared expert, the merger.

Chained (unwarp on unsmooth's image, the experts and the merger on unwarp's), they compute exactly what the one-node
restore computes for the same 256 crops, steps and seed (each crop is seeded as the face of its
batch row): the expert links carry each expert's output at the working size, and only the
merger's result is carried back to the crops' size.
"""

from __future__ import annotations

from dataclasses import dataclass

from mofrr_core.types import RETOUCH_TYPES

from . import widgets
from .api import io
from .links import ExpertOutputLink, MoFRRPipelineLink, RoutingLink

CATEGORY = "mofrr/MoFRR"
SHARED = "shared"


@dataclass
class ExpertOutput:
    """The MOFRR_EXPERT_OUTPUT link: which expert ("shared" or a retouch type) and its working-size output."""

    expert: str
    output: object


class Router(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrRouter",
            display_name="MoFRR router",
            category=CATEGORY,
            description="Detects which retouch types were applied to each crop (presence probability), estimates each "
                        "type's degree and picks the experts to run. Crops at least twice the working side (faces "
                        "aligned at 512 or more) let it read eye enlargement at the face's own resolution, where a "
                        "whole-photo warp leaves its trace.",
            inputs=[MoFRRPipelineLink.Input("pipeline"), io.Image.Input("crops"), *widgets.gating()],
            outputs=[RoutingLink.Output("routing", display_name="routing"), io.String.Output("text", display_name="text")],
        )

    @classmethod
    def execute(cls, pipeline, crops, gating="hard", threshold=0.5, experts="") -> io.NodeOutput:
        from . import runtime
        from .text import faces_text

        rgb, x = runtime.crops_in(pipeline, crops)
        routing = pipeline.route(x, gating, threshold, widgets.experts_option(experts), crops=rgb)
        faces = [vars(routing.face(i)) for i in range(len(routing))]
        return io.NodeOutput(routing, faces_text(faces, "crop"))


class _Inverse:
    """Mixin of the stages that undo the retouches chosen by the routing along the crops' landmarks: `key` names
    the pipeline's model, `about` the node (id, display name, description)."""

    key = ""
    about = ("", "", "")

    @classmethod
    def define_schema(cls):
        node_id, display_name, description = cls.about
        return io.Schema(
            node_id=node_id,
            display_name=display_name,
            category=CATEGORY,
            description=description,
            inputs=[MoFRRPipelineLink.Input("pipeline"), io.Image.Input("crops"), RoutingLink.Input("routing")],
            outputs=[io.Image.Output("image", display_name="image")],
        )

    @classmethod
    def execute(cls, pipeline, crops, routing) -> io.NodeOutput:
        from . import runtime

        rgb, x = runtime.crops_in(pipeline, crops)
        runtime.same_batch(len(x), len(routing), "routing")
        return io.NodeOutput(runtime.crops_out(rgb, x, pipeline.run_inverse(cls.key, x, routing)))


class Unsmooth(_Inverse, io.ComfyNode):
    key = "unsmooth"
    about = ("MofrrUnsmooth", "MoFRR unsmooth",
             ("Scales the fine detail left in the skin of the crops the router found smoothed back up, at their estimated "
              "degree; other crops pass through unchanged. Run unwarp on its image."))


class Unwarp(_Inverse, io.ComfyNode):
    key = "unwarp"
    about = ("MofrrUnwarp", "MoFRR unwarp",
             ("Moves the pixels of the warps the router found (face slimming, eye enlargement) back "
              "where they were, at their estimated degree; other crops pass through unchanged. Run the experts and the "
              "merger on its image."))


class WaveFRRExpert(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrWaveFRRExpert",
            display_name="MoFRR WaveFRR expert",
            category=CATEGORY,
            description="Runs the wavelet-diffusion expert of one retouch type on the crops the router sent to it, at "
                        "their estimated degree; other crops pass through unchanged.",
            inputs=[
                MoFRRPipelineLink.Input("pipeline"),
                io.Image.Input("crops"),
                RoutingLink.Input("routing"),
                io.Combo.Input("retouch_type", options=list(RETOUCH_TYPES), default=RETOUCH_TYPES[0]),
                widgets.steps(),
                widgets.seed(),
            ],
            outputs=[io.Image.Output("image", display_name="image"), ExpertOutputLink.Output("expert", display_name="expert")],
        )

    @classmethod
    def execute(cls, pipeline, crops, routing, retouch_type, steps=10, seed=0) -> io.NodeOutput:
        from . import runtime

        rgb, x = runtime.crops_in(pipeline, crops)
        runtime.same_batch(len(x), len(routing), "routing")
        output = pipeline.run_expert(retouch_type, x, routing, pipeline.sampler(steps, seed, len(x), runtime.progress()))
        return io.NodeOutput(runtime.crops_out(rgb, x, output), ExpertOutput(retouch_type, output))


class SharedExpert(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrSharedExpert",
            display_name="MoFRR shared expert",
            category=CATEGORY,
            description="Runs the always-on shared expert, which restores what all retouch types have in common, on every crop.",
            inputs=[MoFRRPipelineLink.Input("pipeline"), io.Image.Input("crops"), widgets.steps(), widgets.seed()],
            outputs=[io.Image.Output("image", display_name="image"), ExpertOutputLink.Output("expert", display_name="expert")],
        )

    @classmethod
    def execute(cls, pipeline, crops, steps=10, seed=0) -> io.NodeOutput:
        from . import runtime

        rgb, x = runtime.crops_in(pipeline, crops)
        output = pipeline.run_shared(x, pipeline.sampler(steps, seed, len(x), runtime.progress()))
        return io.NodeOutput(runtime.crops_out(rgb, x, output), ExpertOutput(SHARED, output))


class Merger(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrMerger",
            display_name="MoFRR merger",
            category=CATEGORY,
            description="Fuses the retouched crops, the shared expert's output and any subset of WaveFRR expert outputs "
                        "(weighted by the routing; missing experts count as no change) into the restored crops.",
            inputs=[
                MoFRRPipelineLink.Input("pipeline"),
                io.Image.Input("crops"),
                RoutingLink.Input("routing"),
                ExpertOutputLink.Input("shared"),
                *(ExpertOutputLink.Input(f"expert_{k}", optional=True) for k in range(1, len(RETOUCH_TYPES) + 1)),
            ],
            outputs=[io.Image.Output("restored", display_name="restored")],
        )

    @classmethod
    def execute(cls, pipeline, crops, routing, shared, **experts) -> io.NodeOutput:
        from mofrr_core.errors import MofrrError

        from . import runtime

        rgb, x = runtime.crops_in(pipeline, crops)
        runtime.same_batch(len(x), len(routing), "routing")
        if shared.expert != SHARED:
            raise MofrrError(f"shared: got the {shared.expert} expert's output; connect the shared expert here")
        outputs = {}
        for link in filter(None, experts.values()):
            if link.expert == SHARED or link.expert in outputs:
                raise MofrrError(f"expert inputs: the {link.expert} expert is connected twice; connect each WaveFRR expert once")
            outputs[link.expert] = link.output
        for output in [shared.output, *outputs.values()]:
            if output.shape != x.shape:
                raise MofrrError("an expert output does not belong to these crops; run the experts on the crops given here")
        merged = pipeline.merge(x, routing, outputs, shared.output)
        return io.NodeOutput(runtime.crops_out(rgb, x, merged))
