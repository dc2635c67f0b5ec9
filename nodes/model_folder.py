"""Where the loaders find weights: ComfyUI's `models/mofrr/` folder (via `folder_paths`, so
`extra_model_paths.yaml` works too), the bundled weights, or a folder / Hub repo id typed in.

Listing only reads each pipeline folder's `model_index.json`: nothing is loaded or downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

BUNDLED = "bundled"
FOLDER = "mofrr"

try:
    import folder_paths
except ImportError:  # outside ComfyUI
    folder_paths = None
else:
    folder_paths.add_model_folder_path(FOLDER, os.path.join(folder_paths.models_dir, FOLDER))


def _roots() -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths(FOLDER)] if folder_paths else []


def _pipeline_class(folder: Path) -> str | None:
    try:
        return json.loads((folder / "model_index.json").read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None


def choices(pipeline_class: str) -> list[str]:
    """"bundled" and the pipeline folders of class `pipeline_class` under `models/mofrr/`."""
    found = {d.name for root in _roots() if root.is_dir() for d in root.iterdir() if _pipeline_class(d) == pipeline_class}
    return [BUNDLED, *sorted(found)]


def source(weights: str, path_or_repo_id: str, method: str):
    """What to load: the typed folder or repo id if any, else the bundled weights, else a `models/mofrr/` folder."""
    from mofrr_core.errors import WeightsError
    from mofrr_core.weights import default_weights

    if path_or_repo_id.strip():
        return path_or_repo_id.strip()
    if weights == BUNDLED:
        try:
            return default_weights(method)
        except WeightsError:
            raise WeightsError(f"no bundled weights for {method} yet; put a pipeline folder in ComfyUI's models/{FOLDER}/ "
                               "or type a folder or Hugging Face repo id into path_or_repo_id") from None
    for root in _roots():
        if (root / weights).is_dir():
            return root / weights
    raise WeightsError(f"{weights}: no such folder in models/{FOLDER}/; refresh the node list and pick another")
