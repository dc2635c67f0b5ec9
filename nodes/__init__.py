"""ComfyUI nodes for mofrr: one node per stage over mofrr_core (the node set grows with the models).

Nothing heavy is imported here: ComfyUI lists nodes at start-up and must not wait for torch
models or downloads.
"""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
