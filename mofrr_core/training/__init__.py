"""Training of every stage of both methods: recipes, stages (losses, validation), the shared loop, export.

Names are imported on first use, so `mofrr --help` does not pay for torch and accelerate.
"""

from importlib import import_module

_HOMES = {
    "export_weights": "export",
    "STAGES": "recipe",
    "Recipe": "recipe",
    "StageSettings": "recipe",
    "load_recipe": "recipe",
    "STAGE_CLASSES": "stages",
    "Stage": "stages",
    "best_folder": "stages",
    "load_best": "stages",
    "make_stages": "stages",
    "Trainer": "trainer",
    "TrainResult": "trainer",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
