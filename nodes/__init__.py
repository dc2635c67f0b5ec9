"""The mofrr node pack: each stage of MoFRR and FRRffusion as a ComfyUI node, thin over `mofrr_core`.

Under a ComfyUI with `comfy_api` the pack is a V3 extension (`comfy_entrypoint`); elsewhere the
same node classes are classic nodes listed in `NODE_CLASS_MAPPINGS`. Importing the pack loads no
model and imports no torch: the nodes import the core when they run.
"""

from .api import V3, ComfyExtension
from .faces import DetectAlignFaces, PasteFacesBack
from .frrffusion_stages import FRRffusionCoarse, FRRffusionFine
from .loaders import LoadFRRffusionComponent, LoadFRRffusionPipeline, LoadMoFRRComponent, LoadMoFRRPipeline
from .mofrr_stages import Merger, Router, SharedExpert, Unsmooth, Unwarp, WaveFRRExpert
from .restore import MoFRRRestore
from .retouch import RetouchReport, RetouchSimulator

NODES = [
    LoadMoFRRPipeline,
    LoadFRRffusionPipeline,
    LoadMoFRRComponent,
    LoadFRRffusionComponent,
    DetectAlignFaces,
    PasteFacesBack,
    Router,
    Unsmooth,
    Unwarp,
    WaveFRRExpert,
    SharedExpert,
    Merger,
    MoFRRRestore,
    FRRffusionCoarse,
    FRRffusionFine,
    RetouchSimulator,
    RetouchReport,
]

if V3:

    class MofrrExtension(ComfyExtension):
        async def get_node_list(self) -> list:
            return NODES

    async def comfy_entrypoint() -> MofrrExtension:
        return MofrrExtension()

    # None: ComfyUI then registers the nodes through comfy_entrypoint
    NODE_CLASS_MAPPINGS = NODE_DISPLAY_NAME_MAPPINGS = None
else:
    comfy_entrypoint = None
    NODE_CLASS_MAPPINGS = {node.GET_SCHEMA().node_id: node for node in NODES}
    NODE_DISPLAY_NAME_MAPPINGS = {node.GET_SCHEMA().node_id: node.GET_SCHEMA().display_name for node in NODES}

__all__ = ["NODES", "NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "comfy_entrypoint"]
