"""Training on tiny configs: every stage, resume equality, EMA and checkpoint files, export, evaluation."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from conftest import EXAMPLES, ROOT
from mofrr_core.calibration import CALIBRATION_FILE, Calibration, calibration_set, router_probabilities
from mofrr_core.cli import main
from mofrr_core.configs import pipeline_components
from mofrr_core.data import PairFolder, RetouchPairs, synthesize
from mofrr_core.evaluation import GROUPS, ORACLE, build_test_set, evaluate, restore_cases
from mofrr_core.imageio import list_images, load_photo
from mofrr_core.metrics import detection_scores
from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline
from mofrr_core.training import Trainer, export_weights, load_recipe, make_stages
from mofrr_core.training.stages import load_best, random_crop
from mofrr_core.types import RETOUCH_TYPES, level_to_degree
from mofrr_core.weights import MANIFEST, read_header, read_manifest, verify_manifest

TINY = ROOT / "train" / "configs" / "tiny.yaml"
STAGE_KEYS = [key for key, _, _ in pipeline_components()] + ["baseline"]
CALIBRATED = ("whitening", "smoothing")


def tiny_recipe(tmp_path, **changes):
    data = yaml.safe_load(TINY.read_text())
    data.update(faces=[str(EXAMPLES)], out=str(tmp_path / "runs"), **changes)
    path = tmp_path / "recipe.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every stage of the tiny recipe trained through the CLI, then exported."""
    tmp = tmp_path_factory.mktemp("train")
    recipe = tiny_recipe(tmp, calibration={"faces": [str(EXAMPLES)], "types": list(CALIBRATED)})
    assert main(["train", "all", "--config", str(recipe), "--quiet"]) == 0
    assert main(["train", "export", "--config", str(recipe), "--weights-out", str(tmp / "weights")]) == 0
    return tmp


def test_every_stage_leaves_best_weights_logs_and_checkpoints(trained):
    for key in STAGE_KEYS:
        run = trained / "runs" / key
        config = json.loads((run / "best" / "config.json").read_text())
        assert config["_class_name"]
        assert read_header(run / "best" / "diffusion_pytorch_model.safetensors")
        with open(run / "log.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
        assert all(np.isfinite(float(r["loss"])) for r in rows)
        assert any(r.get("psnr_gain") or r.get("mean_f1") or r.get("neg_degree_mae") for r in rows)
        assert Image.open(run / "loss.png").size == (800, 450)
        model = load_file(run / "checkpoint" / "model.safetensors")
        ema = load_file(run / "checkpoint" / "ema.safetensors")
        assert load_file(run / "checkpoint" / "optimizer.safetensors")
        state = json.loads((run / "checkpoint" / "state.json").read_text())
        assert state["info"]["step"] == 4 and state["ema"]["optimization_step"] == 4
        trainable = set(ema)
        assert trainable and trainable <= set(model)
        assert any(not torch.equal(model[k], ema[k]) for k in trainable), f"{key}: EMA equals the raw weights"


def test_training_changes_the_weights_and_moves_the_loss(trained):
    rows = list(csv.DictReader(open(trained / "runs" / "wavefrr_whitening" / "log.csv", newline="")))
    assert float(rows[0]["loss"]) != float(rows[-1]["loss"])


def test_exported_pipelines_are_fp16_and_restore(trained, aligned):
    weights = trained / "weights"
    for method, cls in (("mofrr", MoFRRPipeline), ("frrffusion", FRRffusionPipeline)):
        header = read_header(next((weights / method).glob("*/diffusion_pytorch_model.safetensors")))
        assert {info.dtype for info in header.values()} == {"F16"}
        pipe = cls.from_pretrained(weights / method)
        assert pipe.dtype == torch.float32
        crop = aligned[0][0]
        result = pipe(crop, steps=1, aligned=True)
        assert result.image.rgb.shape == crop.shape
    assert (weights / "baseline" / "config.json").is_file()
    listed = read_manifest(weights / MANIFEST)  # the export leaves a fresh manifest of what it wrote
    assert set(listed) == {p.relative_to(weights).as_posix() for p in weights.rglob("*") if p.suffix in (".json", ".safetensors")}
    assert all(verify_manifest(weights / m) == weights / MANIFEST for m in ("mofrr", "frrffusion", "baseline"))


def test_export_calibrates_the_router_on_the_recipes_photos(trained, tmp_path):
    report = Calibration.load(trained / "weights" / "mofrr" / CALIBRATION_FILE)  # the fp16 export of the fixture
    assert set(report.thresholds) == set(CALIBRATED) and report.cases == 5 * len(list_images(EXAMPLES))
    export_weights(load_recipe(trained / "recipe.yaml"), tmp_path, dtype=torch.float32, progress=False)
    assert Calibration.load(tmp_path / "mofrr" / CALIBRATION_FILE) == report
    exported = MoFRRPipeline.from_pretrained(tmp_path / "mofrr").router
    run = load_best(trained / "runs", "router")
    data = calibration_set([EXAMPLES], size=64, progress=False)
    after, before = (router_probabilities(router, data.images, progress=False) for router in (exported, run))
    # the exported router at 0.5 is the trained one at the chosen thresholds, for the calibrated types only
    for k, name in enumerate(RETOUCH_TYPES):
        threshold = report.thresholds.get(name, 0.5)
        assert torch.equal(after[:, k] >= 0.5, before[:, k] >= threshold), name
        if name in CALIBRATED:
            f1 = detection_scores((after[:, k] >= 0.5)[:, None], data.presence[:, k : k + 1])["f1"]
            assert float(f1) == pytest.approx(report.f1_after[name])
        else:
            assert torch.allclose(after[:, k], before[:, k])
    assert any(abs(report.thresholds[name] - 0.5) > 1e-4 for name in CALIBRATED)


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    results = {}
    for name, chunks in (("straight", [None]), ("interrupted", [2, None])):
        recipe = load_recipe(tiny_recipe(tmp_path / name))
        for chunk in chunks:
            stage = make_stages(recipe, "expert", "face_slimming")[0]
            Trainer(stage, recipe, progress=False, max_steps=chunk).run()
        checkpoint = recipe.runs / "wavefrr_face_slimming" / "checkpoint"
        results[name] = {part: load_file(checkpoint / f"{part}.safetensors") for part in ("model", "ema", "optimizer")}
        results[name]["state"] = json.loads((checkpoint / "state.json").read_text())
    straight, interrupted = results["straight"], results["interrupted"]
    assert straight["state"] == interrupted["state"]
    for part in ("model", "ema", "optimizer"):
        assert straight[part].keys() == interrupted[part].keys()
        for key in straight[part]:
            assert torch.equal(straight[part][key], interrupted[part][key]), f"{part}.{key} differs after resuming"


def test_a_finished_stage_is_not_retrained(tmp_path):
    recipe = load_recipe(tiny_recipe(tmp_path))
    stage = make_stages(recipe, "baseline")[0]
    Trainer(stage, recipe, progress=False).run()
    before = (recipe.runs / "baseline" / "checkpoint" / "model.safetensors").read_bytes()
    assert Trainer(stage, recipe, progress=False).run().step == 4
    assert (recipe.runs / "baseline" / "checkpoint" / "model.safetensors").read_bytes() == before


def test_a_recipe_can_set_one_type_of_a_per_type_stage(tmp_path):
    path = tmp_path / "types.yaml"
    path.write_text("config: tiny\nstages: {expert: {steps: 3, crop: 32}, expert.face_slimming: {crop: null}}\n")
    stages = {s.retouch_type: s.settings for s in make_stages(load_recipe(path), "expert")}
    assert stages["face_slimming"].crop is None and stages["face_slimming"].steps == 3
    assert stages["whitening"].crop == 32


def test_router_validation_thresholds_are_moved_into_its_weights(tmp_path):
    stage = make_stages(load_recipe(tiny_recipe(tmp_path)), "router")[0]
    torch.manual_seed(0)
    model = stage.build().eval()
    for head in model.heads:
        torch.nn.init.normal_(head.weight, std=2.0)
    batches = [{"retouched": torch.rand(8, 3, 64, 64), "presence": (torch.rand(8, 4) < 0.5).float()} for _ in range(2)]
    scores = stage.validate(model, batches, None)
    thresholds = torch.tensor([scores[f"threshold_{t}"] for t in RETOUCH_TYPES])
    assert ((thresholds >= 0.02) & (thresholds <= 0.98)).all() and (thresholds != 0.5).any()
    with torch.no_grad():
        before = torch.cat([model(b["retouched"]).probabilities for b in batches])
        stage.calibrate(model)
        after = torch.cat([model(b["retouched"]).probabilities for b in batches])
    assert torch.equal(after >= 0.5, before >= thresholds)
    truth = torch.cat([b["presence"] for b in batches])
    assert scores["mean_f1"] == pytest.approx(float(detection_scores(after >= 0.5, truth)["f1"].mean()))
    assert scores["mean_f1"] >= float(detection_scores(before >= 0.5, truth)["f1"].mean())


def test_merger_needs_its_experts_first(tmp_path, capsys):
    assert main(["train", "merger", "--config", str(tiny_recipe(tmp_path)), "--quiet"]) == 1
    assert "no trained wavefrr (whitening) yet; train that stage first" in capsys.readouterr().err


def test_bad_recipes_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("config: tiny\nstages: {expert: {stepz: 3}}\n")
    assert main(["train", "expert", "--config", str(bad)]) == 1
    assert "unknown stage setting(s) stepz" in capsys.readouterr().err
    for key in ("expert.freckles", "router.whitening"):
        bad.write_text(f"config: tiny\nstages: {{{key}: {{steps: 3}}}}\n")
        assert main(["train", "expert", "--config", str(bad)]) == 1
        assert f"unknown stage(s) {key}" in capsys.readouterr().err
    bad.write_text("config: tiny\nstages: {hfdg: {coarse: bicubic}}\n")
    assert main(["train", "hfdg", "--config", str(bad)]) == 1
    assert "coarse of hfdg must be one of original, fmar, got 'bicubic'" in capsys.readouterr().err
    bad.write_text("config: tiny\nstages: {router: {val_kind: pale}}\n")
    assert main(["train", "router", "--config", str(bad)]) == 1
    assert "val_kind of router must be a retouch type or one of single, mixed, any, evaluation, got 'pale'" in capsys.readouterr().err
    for calibration in ("{seeds: [1]}", "{faces: examples, sizes: 64}", "{faces: examples, types: [freckles]}"):
        bad.write_text(f"config: tiny\ncalibration: {calibration}\n")
        assert main(["train", "export", "--config", str(bad)]) == 1
        assert "calibration" in capsys.readouterr().err
    bad.write_text("config: [unclosed\n")
    assert main(["train", "router", "--config", str(bad)]) == 1
    assert "cannot read recipe" in capsys.readouterr().err


def test_evaluation_on_a_few_faces(trained, tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    for path in sorted(EXAMPLES.glob("*.jpg"))[:2]:
        shutil.copy(path, faces)
    weights = {m: str(trained / "weights" / m) for m in ("mofrr", "frrffusion", "baseline")}
    report = evaluate(faces, tmp_path / "eval", steps=1, weights=weights, progress=False, log=lambda _: None)
    assert report.faces == 2
    assert set(report.rows) == {"input", "mofrr", "frrffusion", "baseline"}
    for groups in report.rows.values():
        assert set(groups) == set(GROUPS)
        for m in groups.values():
            assert 10 < m["psnr"] <= 100 and 0 < m["ssim"] <= 1 and 0 <= m["identity"] < 1.5
    assert report.rows["input"]["whitening"]["identity"] > 0
    for method in ("mofrr", "frrffusion", "baseline"):
        for g, m in report.rows[method].items():
            gain = m["psnr"] - report.rows["input"][g]["psnr"]
            assert m["gain_low"] - 1e-6 <= gain <= m["gain_high"] + 1e-6
    for scores in report.router.values():
        assert set(scores) == {"precision", "recall", "f1", "f1_low", "f1_high", "auc"}
        assert all(0 <= v <= 1 for v in scores.values())
        assert scores["f1_low"] <= scores["f1"] <= scores["f1_high"]
    cases = build_test_set(faces, progress=False)
    for t, levels in report.found_by_level.items():
        applied = [c.record.levels()[t] for c in cases if c.record.levels()[t]]
        assert [a for _, a in levels] == [applied.count(level) for level in range(1, 6)]
        assert all(0 <= f <= a for f, a in levels)
        assert sum(f for f, _ in levels) == round(report.router[t]["recall"] * len(applied))
    table = (tmp_path / "eval" / "evaluation.md").read_text()
    assert "| level 1 (strength 0-20) |" in table and "| level 5 (strength 80-100) |" in table
    assert "| mofrr |" in table and "| f1 |" in table and "| ROC AUC |" in table and "| f1, 95 % interval over the faces |" in table
    assert "| PSNR gain over the input (dB), 95 % interval over the faces |" in table
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text())["faces"] == 2
    grid = Image.open(tmp_path / "eval" / "grid.png")
    assert grid.size == (5 * 256, 2 * 256)
    assert Image.open(tmp_path / "eval" / "evaluation.png").size == (800, 450)


def test_oracle_evaluation_runs_the_experts_of_the_true_types(trained, tmp_path):
    """`mofrr_oracle` gives each case exactly what MoFRR gives with the true types as its expert list."""
    cases = build_test_set(EXAMPLES, n=1, size=64, progress=False)
    weights = str(trained / "weights" / "mofrr")
    oracle = restore_cases(ORACLE, cases, steps=1, weights=weights, progress=False)
    routed = restore_cases("mofrr", cases, steps=1, weights=weights, progress=False)
    pipe = MoFRRPipeline.from_pretrained(weights)
    for case, image in zip(cases, oracle.images):
        truth = [t for t in RETOUCH_TYPES if case.record.strengths()[t] > 0]
        assert truth and (len(truth) == 1) == (case.group != "mixed")
        alone = pipe(case.retouched, steps=1, seed=0, aligned=True, experts=truth)
        assert np.abs(image - alone.image.rgb).max() < 1e-5
    for a, b in zip(oracle.routing, routed.routing):  # the router still reports (batched differently: float rounding)
        assert a.keys() == b.keys() and all(a[t] == pytest.approx(b[t], abs=1e-5) for t in a)
    assert main(["evaluate", "--faces", str(EXAMPLES), "--n", "1", "--steps", "1", "--method", "mofrr_oracle",
                 "--weights", str(trained / "weights"), "-o", str(tmp_path / "eval")]) == 0
    assert "| mofrr_oracle |" in (tmp_path / "eval" / "evaluation.md").read_text()


def merger_stage(trained, tmp_path, false_routing):
    """The tiny recipe's merger stage over the trained tiny runs, prepared."""
    data = {**yaml.safe_load(TINY.read_text()), "out": str(trained / "runs"), "stages": {"merger": {"false_routing": false_routing}}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
    stage = make_stages(load_recipe(tmp_path / "recipe.yaml"), "merger")[0]
    stage.prepare(stage.build(), torch.device("cpu"))
    return stage


def test_merger_false_routing_feeds_absent_experts(trained, tmp_path):
    """With `false_routing` 1 every absent type's expert residual reaches the merger; with 0 none does."""
    x = torch.rand(2, 3, 64, 64)
    presence = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0]])
    batch = {"retouched": x, "presence": presence, "level": presence * 3}
    for rate in (0.0, 1.0):
        _, residuals, _ = merger_stage(trained, tmp_path, rate).merger_inputs(batch, torch.Generator().manual_seed(0))
        fed = residuals.abs().flatten(2).amax(-1) > 0
        assert torch.equal(fed, presence.bool() if rate == 0 else torch.ones_like(fed))


def test_merger_learns_on_the_crops_unsmooth_and_unwarp_give(trained, tmp_path):
    """As in the pipeline, the merger and the experts get the crop after unsmooth and unwarp, which undo the
    routed types they know at their degrees; a face with none of those types reaches them as it is."""
    stage = merger_stage(trained, tmp_path, 0.0)
    unsmooth, unwarp = stage.inverses
    pairs = RetouchPairs(EXAMPLES, size=64, kind="whitening", seed=0, progress=False)
    faces = [pairs[(0, i)] for i in range(2)]
    landmarks = torch.stack([f["retouched_landmarks"] for f in faces])
    retouched = torch.stack([f["original"] for f in faces])
    retouched[1] = torch.rand_like(retouched[1]) * 0.1 + retouched[1] * 0.9  # a grainy face, for unsmooth to act on
    presence = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 1]])
    batch = {"retouched": retouched, "presence": presence, "level": presence * 3, "retouched_landmarks": landmarks}
    x, residuals, shared = stage.merger_inputs(batch, torch.Generator().manual_seed(0))
    assert torch.allclose(x[0], retouched[0], atol=1e-5)  # resampled at its own pixels: float rounding only
    degree = level_to_degree(torch.tensor(3.0))
    expected = unwarp(unsmooth(retouched[1:], landmarks[1:], degree.view(1, 1)), landmarks[1:], torch.tensor([[0.0, 1.0]]) * degree)
    assert torch.allclose(x[1:], expected)
    assert (x[1] - retouched[1]).abs().max() > 1e-3


def test_a_stage_can_fine_tune_saved_weights(trained, tmp_path, capsys):
    """`init` starts a stage from a saved model (e.g. a bundled component) instead of fresh weights."""
    init = trained / "runs" / "baseline" / "best"
    recipe = tiny_recipe(tmp_path, stages={"baseline": {"crop": 32, "init": str(init)}})
    saved = load_file(init / "diffusion_pytorch_model.safetensors")
    start = make_stages(load_recipe(recipe), "baseline")[0].build().state_dict()
    assert saved.keys() == start.keys() and all(torch.equal(start[k], v.float()) for k, v in saved.items())
    assert main(["train", "baseline", "--config", str(recipe), "--max-steps", "2", "--quiet"]) == 0
    tuned = load_file(tmp_path / "runs" / "baseline" / "checkpoint" / "model.safetensors")
    assert any(not torch.equal(tuned[k], v.float()) for k, v in saved.items())
    recipe = tiny_recipe(tmp_path / "missing", stages={"baseline": {"init": str(tmp_path / "nowhere")}})
    assert main(["train", "baseline", "--config", str(recipe), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "nowhere" in err and len(err.strip().splitlines()) == 1


def test_fmar_learns_a_colour_condition_from_saved_weights(trained, tmp_path, capsys):
    """`model: {colour_condition: true}` on `init` keeps the saved weights, measures the standardisation on
    `exact_fit` training faces and trains the new projection; settings that would drop weights are refused."""
    init = trained / "runs" / "fmar" / "best"
    stage_settings = {"init": str(init), "model": {"colour_condition": True}, "exact_fit": 4}
    recipe = tiny_recipe(tmp_path, stages={"fmar": stage_settings})
    saved = load_file(init / "diffusion_pytorch_model.safetensors")
    start = make_stages(load_recipe(recipe), "fmar")[0].build().state_dict()
    assert set(start) - set(saved) == {"colour.mean", "colour.scale", "colour.project.weight", "colour.project.bias"}
    assert all(torch.equal(start[k], v.float()) for k, v in saved.items())
    assert main(["train", "fmar", "--config", str(recipe), "--max-steps", "2", "--quiet"]) == 0
    tuned = load_file(tmp_path / "runs" / "fmar" / "checkpoint" / "model.safetensors")
    assert tuned["colour.mean"].abs().min() > 0 and tuned["colour.scale"].ne(1).all()
    assert tuned["colour.project.weight"].abs().max() > 0
    pipe = FRRffusionPipeline.from_pretrained(trained / "weights" / "frrffusion")
    pipe.fmar = load_best(tmp_path / "runs", "fmar")
    assert pipe.fmar.config.colour_condition and pipe(load_photo(EXAMPLES / "retouched" / "canada_044f_mixed.png"), steps=1).faces
    for settings, message in (({"init": str(tmp_path / "runs" / "fmar" / "best"), "model": {"colour_condition": False}}, "would drop weights"),
                              ({"model": {"colour": True}}, "are not FMAR configuration values")):
        recipe = tiny_recipe(tmp_path / message.split()[0], stages={"fmar": settings})
        assert main(["train", "fmar", "--config", str(recipe), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_random_crop_cuts_low_resolution_copies_at_the_same_place():
    image = torch.arange(64 * 64.0).reshape(1, 1, 64, 64)
    batch = {"original": image, "low": image[..., ::4, ::4], "presence": torch.ones(1, 4)}
    for seed in range(5):
        cut = random_crop(batch, 32, torch.Generator().manual_seed(seed))
        assert cut["original"].shape[-2:] == (32, 32) and torch.equal(cut["low"], cut["original"][..., ::4, ::4])


def test_hfdg_can_learn_from_the_frozen_fmar(trained, tmp_path):
    """With `coarse: fmar` HFDG's low-resolution input is the trained FMAR's restoration, as FRRffusion feeds it."""
    shutil.copytree(trained / "runs" / "fmar" / "best", tmp_path / "runs" / "fmar" / "best")
    recipe = tiny_recipe(tmp_path, stages={"hfdg": {"crop": 32, "coarse": "fmar"}})
    stage = make_stages(load_recipe(recipe), "hfdg")[0]
    stage.prepare(stage.build(), torch.device("cpu"))
    x, y = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    low = stage._low({"retouched": x, "original": y}, torch.Generator().manual_seed(0))
    expected = stage.fmar.restore(x, (16, 16), steps=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(low, expected)
    assert main(["train", "hfdg", "--config", str(recipe), "--quiet"]) == 0
    assert json.loads((tmp_path / "runs" / "hfdg" / "checkpoint" / "state.json").read_text())["info"]["step"] == 4


def test_training_from_a_folder_of_labelled_pairs(tmp_path):
    synthesize(EXAMPLES, tmp_path / "pairs", size=64, singles=1, mixed=1, val_fraction=0.34, progress=False)
    recipe = tiny_recipe(tmp_path)
    for stage in (["expert", "--type", "whitening"], ["baseline"]):
        assert main(["train", *stage, "--config", str(recipe), "--pairs", str(tmp_path / "pairs"), "--max-steps", "2", "--quiet"]) == 0
    for key in ("wavefrr_whitening", "baseline"):
        state = json.loads((tmp_path / "runs" / key / "checkpoint" / "state.json").read_text())
        assert state["info"]["step"] == 2
    assert len(PairFolder(tmp_path / "pairs", 64, "whitening", "train")) > 0
    labels = [json.loads(line) for line in (tmp_path / "pairs" / "labels.jsonl").read_text().splitlines()]
    assert len(PairFolder(tmp_path / "pairs", 64, "mixed")) == sum(row["kind"] == "mixed" for row in labels) > 0


def test_test_set_is_fixed_for_a_seed():
    a = build_test_set(EXAMPLES, n=1, progress=False)
    b = build_test_set(EXAMPLES, n=1, progress=False)
    assert [c.group for c in a] == list(GROUPS)
    assert all(np.array_equal(x.retouched, y.retouched) for x, y in zip(a, b))
    assert a[0].record.strengths()["whitening"] > 0 and a[0].record.strengths()["smoothing"] == 0


def test_bundled_weights_restore_a_retouched_example(tmp_path):
    example = ROOT / "examples" / "retouched" / "canada_044f_mixed.png"
    assert main(["restore", str(example), "-o", str(tmp_path), "--steps", "2"]) == 0
    restored = Image.open(tmp_path / "canada_044f_mixed.png")
    assert restored.size == Image.open(example).size
    report = json.loads((tmp_path / "canada_044f_mixed.json").read_text())
    assert report["faces"] and set(report["faces"][0]["routing"]) == set(GROUPS[:4])
    assert np.abs(np.asarray(restored, np.float32) - np.asarray(Image.open(example).convert("RGB"), np.float32)).max() > 0


def test_a_stage_can_train_on_its_own_folders_unless_the_command_line_names_others(tmp_path):
    path = tmp_path / "folders.yaml"
    path.write_text("config: tiny\nfaces: [a]\nstages: {router: {faces: [a, b], augment: 0.5}}\n")
    recipe = load_recipe(path)
    assert recipe.stage("router").faces == ["a", "b"] and recipe.stage("router").augment == 0.5
    assert recipe.stage("merger").faces is None and recipe.stage("merger").augment == 0.0
    assert load_recipe(path, faces=["c"]).stage("router").faces is None


def test_a_stage_can_validate_on_faces_retouched_as_the_evaluation_set_is(tmp_path):
    recipe = load_recipe(tiny_recipe(tmp_path, stages={"router": {"val_kind": "evaluation", "deliver": 0.3}}))
    train, val = Trainer(make_stages(recipe, "router")[0], recipe, progress=False)._datasets()
    assert (train.kind, val.kind) == ("any", "evaluation")
    assert (train.deliver, val.deliver) == (0.3, 0.0)  # training faces delivered as JPEG, validation faces never
    singles = [int(val[(epoch, 0)]["presence"].sum() == 1) for epoch in range(200)]
    assert 0.7 < np.mean(singles) < 0.9  # each type alone four times as often as mixed, as in the evaluation set
    expert = Trainer(make_stages(recipe, "expert", "smoothing")[0], recipe, progress=False)._datasets()
    assert [d.kind for d in expert] == ["smoothing", "smoothing"]
