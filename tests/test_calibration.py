"""Router calibration on clean photos: the bundled router, the example faces retouched as the evaluation set is."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import EXAMPLES, ROOT

from mofrr_core.calibration import CalibrationSet, calibrate_router, calibration_set, router_probabilities
from mofrr_core.cli import main
from mofrr_core.errors import MofrrError
from mofrr_core.imageio import list_images
from mofrr_core.metrics import detection_scores
from mofrr_core.models import Router
from mofrr_core.pipelines import MoFRRPipeline
from mofrr_core.weights import check_component, load_model, verify_manifest

BUNDLED_ROUTER = ROOT / "weights" / "mofrr" / "router"


def stored_dtypes(folder) -> set[str]:
    return {info.dtype for info in check_component(folder).tensors.values()}


@pytest.fixture(scope="module")
def examples_set() -> CalibrationSet:
    return calibration_set([EXAMPLES], seeds=[1], progress=False)


def test_calibration_set_is_the_evaluation_construction(examples_set):
    photos = len(list_images(EXAMPLES))
    assert examples_set.images.shape == (5 * photos, 3, 256, 256)
    assert examples_set.images.dtype == torch.uint8
    # five versions per photo: each type alone, then mixed (which carries at least two)
    per_photo = examples_set.presence.view(photos, 5, 4)
    assert torch.equal(per_photo[:, :4], torch.eye(4).expand(photos, 4, 4))
    assert (per_photo[:, 4].sum(1) >= 2).all()


def test_calibrate_router_moves_only_the_chosen_types(examples_set):
    router = load_model(BUNDLED_ROUTER, Router)
    before = router_probabilities(router, examples_set.images, progress=False)
    calibration = calibrate_router(router, examples_set, ["whitening", "face_slimming"], progress=False)
    after = router_probabilities(router, examples_set.images, progress=False)
    assert calibration.cases == len(examples_set.presence)
    assert set(calibration.thresholds) == {"whitening", "face_slimming"}
    for name, column in (("whitening", 0), ("face_slimming", 2)):
        threshold = calibration.thresholds[name]
        # gating at 0.5 now is gating at the chosen threshold before, the logit shifted by its log-odds
        # (where float32 probabilities are not saturated, so their logits are exact enough)
        moderate = (before[:, column] - 0.5).abs().lt(0.499) & (after[:, column] - 0.5).abs().lt(0.499)
        shift = torch.logit(after[moderate, column]) - torch.logit(before[moderate, column])
        assert moderate.sum() >= 5
        assert torch.allclose(shift, torch.full_like(shift, -math.log(threshold / (1 - threshold))), atol=1e-3)
        assert torch.equal(after[:, column] >= 0.5, before[:, column] >= threshold)
        # no threshold does better on these faces than the chosen one
        truth = examples_set.presence[:, column]
        allowed = [t for t in before[:, column].tolist() if 0.02 <= t <= 0.98] + [0.02, 0.5, 0.98]  # best_thresholds' range
        best = max(float(detection_scores((before[:, column] >= t)[:, None], truth[:, None])["f1"]) for t in allowed)
        assert calibration.f1_after[name] == pytest.approx(best) and calibration.f1_after[name] >= calibration.f1_before[name]
    assert torch.allclose(after[:, [1, 3]], before[:, [1, 3]])


def test_calibrate_needs_faces_with_and_without_each_type(examples_set, tmp_path):
    router = load_model(BUNDLED_ROUTER, Router)
    whitened = examples_set.presence[:, 0] > 0
    with pytest.raises(MofrrError, match="whitening needs faces with and without it"):
        calibrate_router(router, CalibrationSet(examples_set.images[whitened], examples_set.presence[whitened]), ["whitening"], progress=False)
    with pytest.raises(MofrrError, match="no such folder"):
        calibration_set([tmp_path / "missing"], progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MofrrError, match="no photos found"):
        calibration_set([tmp_path / "empty"], progress=False)


def test_calibrate_command_writes_weights_the_pipeline_loads(tmp_path, capsys):
    out = tmp_path / "calibrated"
    assert main(["calibrate", "--faces", str(EXAMPLES), "--types", "whitening", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "whitening: threshold" in printed and f"--weights {out}" in printed
    assert verify_manifest(out) == out / "SHA256SUMS"
    report = json.loads((out / "calibration.json").read_text())
    assert set(report["thresholds"]) == {"whitening"} and report["cases"] == 5 * len(list_images(EXAMPLES))
    pipe = MoFRRPipeline.from_pretrained(out)
    bundled = load_model(BUNDLED_ROUTER, Router)
    moved = (bundled.colour_head.linear.bias - pipe.router.colour_head.linear.bias).detach()
    threshold = report["thresholds"]["whitening"]
    assert float(moved[0]) == pytest.approx(math.log(threshold / (1 - threshold)), abs=1e-2)
    assert torch.equal(pipe.router.texture_head.linear.bias, bundled.texture_head.linear.bias)
    assert stored_dtypes(out / "router") == stored_dtypes(BUNDLED_ROUTER)
    assert main(["calibrate", "--faces", str(EXAMPLES), "-o", str(out)]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
