"""Training of every stage of both methods: recipes, stages (losses, validation), the shared loop, export."""

from .export import export_weights
from .recipe import STAGES, Recipe, StageSettings, load_recipe
from .stages import STAGE_CLASSES, Stage, best_folder, load_best, make_stages
from .trainer import Trainer, TrainResult

__all__ = [
    "STAGES",
    "STAGE_CLASSES",
    "Recipe",
    "Stage",
    "StageSettings",
    "TrainResult",
    "Trainer",
    "best_folder",
    "export_weights",
    "load_best",
    "load_recipe",
    "make_stages",
]
