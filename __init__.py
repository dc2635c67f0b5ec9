"""ComfyUI entry point: ComfyUI imports this folder as a custom-node package.

It must import fast and never fail when ComfyUI is absent (pip installs, pytest), so the
node classes are only imported when loaded as a package.
"""

if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
