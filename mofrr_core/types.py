"""Retouch types and degree levels shared by every part of the project."""

RETOUCH_TYPES = ("whitening", "smoothing", "face_slimming", "eye_enlargement")
LEVELS = 5


def level_to_degree(level, num_levels: int = LEVELS):
    """Degree in [0, 1] of a (soft) level 1..num_levels: the centre of its strength bin, over 100."""
    return (level - 0.5) / num_levels


def strength_to_level(strength: float) -> int:
    """Degree level 1..LEVELS of a beautify slider strength in [0, 100] (equal bins); 0 means the op is absent."""
    if strength <= 0:
        return 0
    return 1 + min(LEVELS - 1, int(strength // (100 / LEVELS)))


def check_type(name: str) -> str:
    """Return `name` if it is a retouch type, else raise a ValueError listing the valid ones."""
    if name not in RETOUCH_TYPES:
        raise ValueError(f"unknown retouch type {name!r}; choose one of {', '.join(RETOUCH_TYPES)}")
    return name
