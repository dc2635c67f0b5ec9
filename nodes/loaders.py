"""Loader nodes: a whole MoFRR or FRRffusion pipeline, and one component swapped into a loaded pipeline."""

from __future__ import annotations

from mofrr_core.types import RETOUCH_TYPES

from . import model_folder
from .api import io
from .links import FRRffusionPipelineLink, MoFRRPipelineLink

CATEGORY = "mofrr/loaders"
# component folders of each pipeline (as `save_pretrained` names them)
COMPONENTS = {
    "mofrr": ["router", *(f"degree_{t}" for t in RETOUCH_TYPES), *(f"wavefrr_{t}" for t in RETOUCH_TYPES), "shared_expert", "merger", "unwarp",
              "unsmooth"],
    "frrffusion": ["fmar", "hfdg"],
}
PIPELINES = {"mofrr": ("MoFRRPipeline", MoFRRPipelineLink), "frrffusion": ("FRRffusionPipeline", FRRffusionPipelineLink)}


def _weights_inputs(method: str) -> list:
    return [
        io.Combo.Input("weights", options=model_folder.choices(PIPELINES[method][0]), default=model_folder.BUNDLED,
                       tooltip=f"bundled weights or a pipeline folder in models/{model_folder.FOLDER}/"),
        io.String.Input("path_or_repo_id", default="", tooltip="a pipeline folder or Hugging Face repo id; overrides weights when set"),
    ]


def _pipeline_class(method: str):
    from mofrr_core import pipelines

    return getattr(pipelines, PIPELINES[method][0])


def _load(method: str, weights: str, path_or_repo_id: str):
    from . import runtime

    return runtime.load_pipeline(_pipeline_class(method), model_folder.source(weights, path_or_repo_id, method))


def _swap(method: str, pipeline, component: str, weights: str, path_or_repo_id: str):
    return pipeline.with_component(component, model_folder.source(weights, path_or_repo_id, method))


class LoadMoFRRPipeline(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrLoadMoFRRPipeline",
            display_name="Load MoFRR pipeline",
            category=CATEGORY,
            description="Loads the MoFRR pipeline (router, degree estimators, four WaveFRR experts, shared expert, merger) "
                        "from safetensors onto ComfyUI's device; cached between runs.",
            inputs=_weights_inputs("mofrr"),
            outputs=[MoFRRPipelineLink.Output("pipeline_out", display_name="pipeline")],
        )

    @classmethod
    def execute(cls, weights, path_or_repo_id="") -> io.NodeOutput:
        return io.NodeOutput(_load("mofrr", weights, path_or_repo_id))


class LoadFRRffusionPipeline(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrLoadFRRffusionPipeline",
            display_name="Load FRRffusion pipeline",
            category=CATEGORY,
            description="Loads the FRRffusion pipeline (FMAR coarse diffusion, HFDG detail generator) from safetensors "
                        "onto ComfyUI's device; cached between runs.",
            inputs=_weights_inputs("frrffusion"),
            outputs=[FRRffusionPipelineLink.Output("pipeline_out", display_name="pipeline")],
        )

    @classmethod
    def execute(cls, weights, path_or_repo_id="") -> io.NodeOutput:
        return io.NodeOutput(_load("frrffusion", weights, path_or_repo_id))


class LoadMoFRRComponent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrLoadMoFRRComponent",
            display_name="Load MoFRR component",
            category=CATEGORY,
            description="Swaps one component (e.g. one WaveFRR expert) of a MoFRR pipeline for the same component of "
                        "other weights: a component folder, or a pipeline folder / repo id holding it.",
            inputs=[MoFRRPipelineLink.Input("pipeline"), io.Combo.Input("component", options=COMPONENTS["mofrr"]), *_weights_inputs("mofrr")],
            outputs=[MoFRRPipelineLink.Output("pipeline_out", display_name="pipeline")],
        )

    @classmethod
    def execute(cls, pipeline, component, weights, path_or_repo_id="") -> io.NodeOutput:
        return io.NodeOutput(_swap("mofrr", pipeline, component, weights, path_or_repo_id))


class LoadFRRffusionComponent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrLoadFRRffusionComponent",
            display_name="Load FRRffusion component",
            category=CATEGORY,
            description="Swaps FMAR or HFDG of an FRRffusion pipeline for the same component of other weights: "
                        "a component folder, or a pipeline folder / repo id holding it.",
            inputs=[FRRffusionPipelineLink.Input("pipeline"), io.Combo.Input("component", options=COMPONENTS["frrffusion"]),
                    *_weights_inputs("frrffusion")],
            outputs=[FRRffusionPipelineLink.Output("pipeline_out", display_name="pipeline")],
        )

    @classmethod
    def execute(cls, pipeline, component, weights, path_or_repo_id="") -> io.NodeOutput:
        return io.NodeOutput(_swap("frrffusion", pipeline, component, weights, path_or_repo_id))
