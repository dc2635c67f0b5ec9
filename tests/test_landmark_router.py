"""The router's landmark head: the eye frame, landmarks of crops, routing, calibration, training and the pipeline."""

import math

import pytest
import torch

torch.set_num_threads(1)

from conftest import reading_router, route_three_ways, with_retouched  # noqa: E402
from mofrr_core.configs import build_model  # noqa: E402
from mofrr_core.faces import crop_landmarks  # noqa: E402
from mofrr_core.models import Router  # noqa: E402
from mofrr_core.models.landmark_head import eye_frame  # noqa: E402
from mofrr_core.pipelines import MoFRRPipeline  # noqa: E402
from mofrr_core.training import make_stages  # noqa: E402
from mofrr_core.training.recipe import Recipe  # noqa: E402
from mofrr_core.types import RETOUCH_TYPES  # noqa: E402

SHAPE_TYPES = ("face_slimming", "eye_enlargement")
SHAPE_COLUMNS = [RETOUCH_TYPES.index(t) for t in SHAPE_TYPES]
OTHER_COLUMNS = [RETOUCH_TYPES.index(t) for t in RETOUCH_TYPES if t not in SHAPE_TYPES]


def shape_router():
    return reading_router(shape_types=SHAPE_TYPES)


@pytest.fixture(scope="module")
def crops(aligned):
    """The real aligned crops, then each one with its eyes enlarged."""
    return with_retouched(aligned, {"eye_enlargement": 100})


def test_eye_frame_ignores_position_size_and_tilt(aligned):
    landmarks = torch.from_numpy(aligned[0][1]).float()[None]
    angle = math.radians(17)
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = 1.7 * landmarks @ rotation.T + torch.tensor([31.0, -12.0])
    frame = eye_frame(landmarks)
    assert torch.allclose(eye_frame(moved), frame, atol=1e-4)
    points = frame.view(68, 2)
    assert torch.allclose(points[36:42].mean(0), torch.tensor([-1.0, 0.0]), atol=1e-5)
    assert torch.allclose(points[42:48].mean(0), torch.tensor([1.0, 0.0]), atol=1e-5)


def test_crop_landmarks_finds_the_face_or_says_nan(aligned, crops):
    found = crop_landmarks(crops[:1])
    assert found.shape == (1, 68, 2) and torch.isfinite(found).all()
    assert (found[0] - torch.from_numpy(aligned[0][1])).norm(dim=-1).median() < 4
    assert torch.isnan(crop_landmarks(torch.full((1, 3, 128, 128), 0.5))).all()


def test_enlarged_eyes_are_wider_in_the_eye_frame(crops):
    points = eye_frame(crop_landmarks(crops)).view(len(crops), 68, 2)
    width = (points[:, 45, 0] - points[:, 36, 0]) - (points[:, 42, 0] - points[:, 39, 0])
    half = len(crops) // 2
    assert float(width[half:].mean() - width[:half].mean()) > 0.05  # dlib follows a strong enlargement, not always fully


def test_the_landmark_head_decides_its_types_and_only_when_landmarks_are_found(crops):
    router = shape_router()
    plain, routed, missing = route_three_ways(router, crops)
    assert torch.equal(plain.logits, plain.image_logits) and torch.equal(routed.image_logits, plain.image_logits)
    assert torch.equal(routed.logits[:, OTHER_COLUMNS], plain.logits[:, OTHER_COLUMNS])
    assert (routed.logits[:, SHAPE_COLUMNS] != plain.logits[:, SHAPE_COLUMNS]).all()
    assert torch.equal(missing.logits[0], plain.logits[0]) and torch.equal(missing.logits[1:], routed.logits[1:])


def test_calibration_moves_the_head_that_decides_and_survives_saving(crops, tmp_path):
    """Every column's decider moves: the colour head's (whitening), an image head's (smoothing), the landmark head's."""
    router = reading_router(shape_types=SHAPE_TYPES, colour_types=("whitening",))
    landmarks = crop_landmarks(crops)
    thresholds = [0.3, 0.45, 0.6, 0.8]
    with torch.no_grad():
        before = router(crops, landmarks=landmarks).logits
        router.move_thresholds(thresholds)
        after = router(crops, landmarks=landmarks).logits
    shift = torch.tensor([math.log(t / (1 - t)) for t in thresholds])
    assert torch.allclose(after, before - shift, atol=1e-5)
    router.save_pretrained(tmp_path / "router")
    loaded = Router.from_pretrained(tmp_path / "router").eval()
    assert tuple(loaded.config.shape_types) == SHAPE_TYPES and tuple(loaded.config.colour_types) == ("whitening",)
    with torch.no_grad():
        assert torch.allclose(loaded(crops, landmarks=landmarks).logits, after, atol=1e-6)


def test_router_training_reaches_the_landmark_head(crops):
    stage = make_stages(Recipe(config="tiny"), "router")[0]
    router = build_model("router", "tiny", shape_types=SHAPE_TYPES).train()
    half = len(crops) // 2
    batch = {"retouched": crops, "presence": torch.tensor([[0, 0, 0, 0]] * half + [[0, 0, 0, 1]] * half, dtype=torch.float32),
             "degree": torch.tensor([[0, 0, 0, 0]] * half + [[0, 0, 0, 1]] * half, dtype=torch.float32)}
    losses = stage.losses(router, batch, None)
    assert set(losses) == {"presence", "degree", "landmarks"}
    sum(losses.values()).backward()
    assert router.landmark_head.linear.weight.grad.abs().sum() > 0
    scores = stage.validate(router.eval(), [batch], None)
    assert 0 <= scores["mean_f1"] <= 1


def test_the_pipeline_routes_warps_by_the_landmarks_of_its_working_crops(crops):
    tiny = MoFRRPipeline.from_config_name("tiny")
    pipe = MoFRRPipeline(**{**tiny.components, "router": shape_router()}, working_size=256)
    x = pipe.to_working(crops)
    landmarks = crop_landmarks(x)
    landmarks[0] = float("nan")  # a face dlib missed: the image heads and the degree estimators decide
    pipe.router.find_landmarks = lambda _: landmarks
    routing = pipe.route(x)
    with torch.no_grad():
        expected = pipe.router(x, landmarks=landmarks)
        estimated = torch.stack([pipe.degree_estimator(t)(x).degree for t in RETOUCH_TYPES], dim=1)
    assert torch.equal(routing.probabilities, expected.probabilities)
    assert not torch.equal(routing.probabilities, pipe.router(x).probabilities)
    assert torch.equal(routing.degrees[1:, SHAPE_COLUMNS], expected.degrees[1:, SHAPE_COLUMNS])
    assert torch.equal(routing.degrees[0], estimated[0]) and torch.equal(routing.degrees[:, OTHER_COLUMNS], estimated[:, OTHER_COLUMNS])
