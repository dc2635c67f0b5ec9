"""The router's native reads: types read again on the face at its own resolution, as a whole-photo retouch leaves them."""

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

from mofrr_core.configs import build_model  # noqa: E402
from mofrr_core.face_pipeline import align_faces  # noqa: E402
from mofrr_core.imageio import load_photo  # noqa: E402
from mofrr_core.pipelines.common import crop_tensor  # noqa: E402
from mofrr_core.pipelines.mofrr import MoFRRPipeline  # noqa: E402
from mofrr_core.types import RETOUCH_TYPES  # noqa: E402
from mofrr_core.weights import default_weights  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EYES = RETOUCH_TYPES.index("eye_enlargement")


@pytest.fixture(scope="module")
def pipe():
    return MoFRRPipeline.from_pretrained(default_weights("mofrr"))


def native_and_working(pipe, path):
    """The face of a photo aligned at its own resolution, and the same at the working size."""
    crop = crop_tensor(align_faces(load_photo(path).rgb)[0].crop, pipe.device)
    return crop, pipe.to_working(crop)


def test_eye_enlargement_of_a_whole_photo_is_found_at_the_face_s_own_resolution(pipe):
    crop, x = native_and_working(pipe, EXAMPLES / "retouched" / "canada_117m_slim_eyes.png")
    assert crop.shape[-1] >= 2 * x.shape[-1]
    working, native = pipe.route(x), pipe.route(x, crops=[crop[0]])
    assert working.probabilities[0, EYES] < 0.5 <= native.probabilities[0, EYES]
    others = [c for c in range(len(RETOUCH_TYPES)) if c != EYES]
    assert torch.equal(working.probabilities[:, others], native.probabilities[:, others])
    restored = pipe(load_photo(EXAMPLES / "retouched" / "canada_117m_slim_eyes.png").rgb, steps=1)
    assert "eye_enlargement" in restored.faces[0].active and "eye_enlargement" in restored.faces[0].undone


def test_the_unretouched_originals_are_not_read_as_eye_enlarged(pipe):
    for path in sorted(EXAMPLES.glob("*.jpg")):
        crop, x = native_and_working(pipe, path)
        assert pipe.route(x, crops=[crop[0]]).probabilities[0, EYES] < 0.5, path.name


def test_crops_not_twice_the_working_side_are_read_as_before(pipe):
    crop, x = native_and_working(pipe, EXAMPLES / "retouched" / "canada_044f_mixed.png")
    small = torch.nn.functional.interpolate(crop, size=(384, 384), mode="area")
    plain = pipe.router(x, landmarks=pipe.router.find_landmarks(x))
    for crops in ([x[0]], [small[0]]):
        reread = pipe.router(x, landmarks=pipe.router.find_landmarks(x), reading=crops)
        assert torch.equal(reread.logits, plain.logits)
    assert not torch.equal(pipe.router(x, landmarks=pipe.router.find_landmarks(x), reading=[crop[0]]).logits, plain.logits)


def test_native_types_must_be_read_by_a_head_each_with_a_threshold():
    with pytest.raises(ValueError, match="native_types"):
        build_model("router", "tiny", native_types=("eye_enlargement",), native_thresholds=(0.5,))
    with pytest.raises(ValueError, match="native_types"):
        build_model("router", "tiny", texture_types=("eye_enlargement",), native_types=("eye_enlargement",))


def test_landmarks_of_crops_of_any_sizes_and_of_none():
    from mofrr_core.faces import crop_landmarks

    crops = [torch.zeros(3, 80, 64), torch.zeros(3, 64, 64)]
    assert crop_landmarks(crops).shape == (2, 68, 2) and crop_landmarks(crops).isnan().all()
    assert crop_landmarks([]).shape == crop_landmarks(torch.zeros(0, 3, 64, 64)).shape == (0, 68, 2)
