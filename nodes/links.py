"""The pack's typed links: each connects only where its value makes sense.

- MOFRR_PIPELINE, FRRFFUSION_PIPELINE: a loaded pipeline (`mofrr_core.pipelines`), on ComfyUI's device.
- FACE_ALIGNMENT: where each aligned crop came from (`Faces`), for pasting back.
- MOFRR_ROUTING: the router's probabilities, degrees and active experts (`mofrr_core.pipelines.mofrr.Routing`).
- MOFRR_EXPERT_OUTPUT: one expert's restoration at the working size (`ExpertOutput`), for the merger.
- FRRFFUSION_COARSE: FMAR's low-resolution restoration, for HFDG.
"""

from .api import io

MoFRRPipelineLink = io.Custom("MOFRR_PIPELINE")
FRRffusionPipelineLink = io.Custom("FRRFFUSION_PIPELINE")
FaceAlignmentLink = io.Custom("FACE_ALIGNMENT")
RoutingLink = io.Custom("MOFRR_ROUTING")
ExpertOutputLink = io.Custom("MOFRR_EXPERT_OUTPUT")
CoarseLink = io.Custom("FRRFFUSION_COARSE")
