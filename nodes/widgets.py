"""Widget inputs that several nodes share, declared once."""

from .api import io

GATINGS = ["hard", "soft"]
MAX_SEED = 2**63 - 1


def steps() -> io.Int.Input:
    return io.Int.Input("steps", default=10, min=1, max=1000, tooltip="DDIM sampling steps (at most the model's training timesteps)")


def seed() -> io.Int.Input:
    return io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True, tooltip="noise seed; each face gets its own stream")


def gating() -> list:
    """How the router picks experts: gating, threshold and a manual expert list."""
    return [
        io.Combo.Input("gating", options=GATINGS, default="hard", tooltip="hard: run experts with probability >= threshold; soft: run all, weighted"),
        io.Float.Input("threshold", default=0.5, min=0.0, max=1.0, step=0.01, tooltip="hard gating: the probability an expert needs to run"),
        io.String.Input("experts", default="", tooltip="comma-separated retouch types to run instead of the router's choice (empty: the router decides)"),
    ]


def experts_option(text: str):
    """None (the router decides) for an empty experts field, else the text."""
    return text if text.strip() else None
