"""ComfyUI entry point: ComfyUI imports this folder as a custom-node package.

It must import fast and never fail when ComfyUI is absent (pip installs, pytest), so the
node classes are only imported when loaded as a package. Under a ComfyUI with `comfy_api`,
`NODE_CLASS_MAPPINGS` is None and ComfyUI takes the V3 `comfy_entrypoint`.
"""

if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, comfy_entrypoint
else:
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, comfy_entrypoint = {}, {}, None

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "comfy_entrypoint"]
