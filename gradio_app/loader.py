"""Each method's restoration pipeline, loaded from its weights on first use and then kept."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from mofrr_core.errors import MofrrError, WeightsError
from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline
from mofrr_core.weights import METHODS, default_weights

from .settings import WEIGHTS_ENV

PIPELINES = {"mofrr": MoFRRPipeline, "frrffusion": FRRffusionPipeline}


class Pipelines:
    """Loads a method's pipeline once (one load at a time) on `device`; weights: method -> folder or repo id."""

    def __init__(self, weights: Mapping[str, str | None], device: str):
        self.weights, self.device = dict(weights), device
        self._loaded: dict = {}
        self._lock = threading.Lock()

    def source(self, method: str) -> str:
        """The weights folder or repo id of `method`: the configured one, else the bundled weights."""
        if method not in METHODS:
            raise MofrrError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if self.weights.get(method):
            return str(self.weights[method])
        try:
            return str(default_weights(method))
        except WeightsError:
            flag = f"--weights-{method}"
            raise WeightsError(f"no weights for {method} yet; start the app with {flag} PATH_OR_REPO_ID or set {WEIGHTS_ENV[method]}") from None

    def get(self, method: str):
        """The loaded pipeline of `method`; WeightsError (one line) when its weights cannot be used."""
        with self._lock:
            if method not in self._loaded:
                source = self.source(method)
                self._loaded[method] = PIPELINES[method].from_pretrained(source).to(self.device)
            return self._loaded[method]
