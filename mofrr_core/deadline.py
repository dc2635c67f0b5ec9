"""A time limit for one piece of work (a server request), checked where the work can stop cleanly:
at every sampling step (a pipeline's `callback`) and between faces."""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import TimeLimitError


class Deadline:
    """Raises TimeLimitError from `check` once `seconds` have passed since it was made (None: no limit)."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.end = None if seconds is None else clock() + seconds

    def check(self, *_) -> None:
        """Stop the work if its time is up (takes and ignores a callback's arguments)."""
        if self.end is not None and self.clock() > self.end:
            raise TimeLimitError(f"stopped after the {self.seconds:g} s limit per request; use fewer sampling steps or a smaller photo")

    def around(self, callback: Callable[[int, int], object]) -> Callable[[int, int], object]:
        """A pipeline callback that checks the deadline, then calls `callback(done, total)`."""

        def checked(done: int, total: int):
            self.check()
            return callback(done, total)

        return checked
