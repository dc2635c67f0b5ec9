"""mofrr's user errors as Gradio error pop-ups: the core's one clear line, no traceback."""

from __future__ import annotations

from contextlib import contextmanager

import gradio as gr

from mofrr_core.errors import MofrrError


@contextmanager
def user_errors(*also: type[Exception]):
    """Re-raise a MofrrError (and any of the `also` types) as a gr.Error with the same message."""
    try:
        yield
    except (MofrrError, *also) as exc:
        raise gr.Error(str(exc), print_exception=False) from None
