"""The "simulate retouch" tab: beautify a clean photo with the core's retouch simulator, to try restoring it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mofrr_core.deadline import Deadline
from mofrr_core.errors import MofrrError
from mofrr_core.face_pipeline import edit_faces
from mofrr_core.pipelines.common import whole_number
from mofrr_core.retouch import retouch
from mofrr_core.types import RETOUCH_TYPES

from .errors import user_errors
from .outputs import Outputs, png
from .restore import whole
from .uploads import load_upload


class Simulator:
    """The `/retouch` endpoint; the retouched photo goes to a fresh folder of `outputs`; each call may work
    `timeout_s` seconds (checked between faces)."""

    def __init__(self, outputs: Outputs, timeout_s: float | None = None):
        self.outputs, self.timeout_s = outputs, timeout_s

    def __call__(self, photo, whitening, smoothing, face_slimming, eye_enlargement, seed):
        """Every face of `photo` retouched with the slider strengths (0-100, in this order) and hidden filter
        parameters drawn from `seed`; returns the retouched photo and the record of what was done."""
        deadline = Deadline(self.timeout_s)
        ops = dict(zip(RETOUCH_TYPES, (whitening, smoothing, face_slimming, eye_enlargement)))
        with user_errors(ValueError):
            seed = whole_number(whole(seed), "seed", 0)
            if not any(ops.values()):
                raise MofrrError("every slider is at 0; move at least one above 0 to retouch the photo")
            image, name = load_upload(photo, "photo")
            faces = []

            def edit(face, index):
                deadline.check()
                crop, record = retouch(face.crop, face.landmarks, ops, np.random.default_rng([seed, index]))
                faces.append({"box": [float(v) for v in face.face.box], **record.to_dict()})
                return crop

            result, _ = edit_faces(image, edit, name=name)
        retouched = png(result.rgb, self.outputs.folder() / f"{Path(name).stem or 'photo'}_retouched.png")
        return retouched, {"input": name, "seed": seed, "requested": ops, "faces": faces}
