"""User-facing errors: one clear line that says what went wrong and what to do."""


class MofrrError(Exception):
    """A problem with the user's input, files or weights, not a bug in mofrr."""


class ImageError(MofrrError):
    """An input image cannot be used (unreadable, truncated, too small or too large)."""


class NoFaceError(MofrrError):
    """No face was found where one is required."""


class WeightsError(MofrrError):
    """Model weights cannot be used (missing, truncated, corrupt, unsafe or not matching their config)."""


class TimeLimitError(MofrrError):
    """A restoration ran past the time allowed for it (a server's per-request limit) and was stopped."""
