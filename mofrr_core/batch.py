"""Batches that keep the results of their good inputs: an unusable input (not an image, no face, ...) gets
its own one-line error as its outcome instead of failing the whole batch.

An outcome is the item's result or the `MofrrError` that explains why it has none; errors that are not
about one input (a bad option, unusable weights) still raise, as they would for every input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import ImageError, MofrrError, NoFaceError

INPUT_ERRORS = (ImageError, NoFaceError)
T = TypeVar("T")


def each_item(items: Sequence, names: Sequence[str], work: Callable[[object, str], T]) -> list[T | MofrrError]:
    """`work(item, name)` for every item; an input error on one becomes its outcome and the others still run."""
    outcomes: list[T | MofrrError] = []
    for item, name in zip(items, names):
        try:
            outcomes.append(work(item, name))
        except INPUT_ERRORS as exc:
            outcomes.append(exc)
    return outcomes


def unless_all_failed(outcomes: list[T | MofrrError]) -> list[T | MofrrError]:
    """The outcomes, unless none is a result: then the first error is raised, as there is nothing to keep."""
    if outcomes and all(isinstance(o, MofrrError) for o in outcomes):
        raise outcomes[0]
    return outcomes


def restore_each(pipe, images, name="image", **options) -> list:
    """Restore a list of images with `pipe` (a MoFRR or FRRffusion pipeline and its keyword options), keeping
    the good ones: returns per image its RestorationResult or the MofrrError saying why it was not restored.

    The good images are restored in one call, batched, exactly as `pipe(images)` would restore them; only
    when that call meets an unusable input are the inputs checked one by one (decoding and face detection).
    """
    from .face_pipeline import align_faces
    from .pipelines.common import image_list, to_photo

    items, names, _ = image_list(images, name)
    try:
        return list(pipe(items, name=names, **options))
    except INPUT_ERRORS:
        pass  # some input is unusable: find which, then restore the others

    def check(item, item_name):
        photo = to_photo(item, item_name)
        if not options.get("aligned"):
            align_faces(photo.rgb, options.get("size"), name=item_name)
        return item

    outcomes = each_item(items, names, check)
    good = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, MofrrError)]
    if good:
        for i, result in zip(good, pipe([items[i] for i in good], name=[names[i] for i in good], **options)):
            outcomes[i] = result
    return outcomes
