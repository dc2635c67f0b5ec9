"""MoFRR and FRRffusion pipelines at `tiny` sizes on real face crops and photos (CPU)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mofrr_core.batch import restore_each
from mofrr_core.deadline import Deadline
from mofrr_core.errors import ImageError, MofrrError, NoFaceError, TimeLimitError
from mofrr_core.imageio import Photo, load_photo
from mofrr_core.pipelines import FaceResult, FRRffusionPipeline, MoFRRPipeline, RestorationResult
from mofrr_core.types import RETOUCH_TYPES

import bad_inputs
from test_models import randomise_ as randomise_model_

STEPS = 2
MOFRR_STAGES = {"detect_align", "router", "degree", "unsmooth", "unwarp", "experts", "shared_expert", "merger", "paste_back", "total"}
FRR_STAGES = {"detect_align", "fmar", "hfdg", "paste_back", "total"}


def randomise_(pipe):
    """Give the zero-initialised (identity) output layers random weights so outputs depend on noise and every input."""
    with torch.random.fork_rng(devices=[]):
        for model in pipe.components.values():
            randomise_model_(model)
    return pipe


@pytest.fixture(scope="module")
def mofrr():
    return randomise_(MoFRRPipeline.from_config_name("tiny"))


@pytest.fixture(scope="module")
def frr():
    return randomise_(FRRffusionPipeline.from_config_name("tiny"))


@pytest.fixture(params=["mofrr", "frrffusion"])
def pipe(request, mofrr, frr):
    return mofrr if request.param == "mofrr" else frr


class Counter:
    """Wrap every WaveFRR expert's and the shared expert's `restore` to count calls and batch rows."""

    def __init__(self, pipe, monkeypatch):
        self.calls: dict[str, list[int]] = {}
        self.outputs: dict[str, tuple] = {}
        for name, model in [(t, pipe.expert(t)) for t in RETOUCH_TYPES] + [("shared", pipe.shared_expert)]:
            original = type(model).restore.__get__(model)  # not an earlier Counter's wrapper
            monkeypatch.setattr(model, "restore", self.wrap(name, original))

    def wrap(self, name, restore):
        def counted(x, *args, **kwargs):
            self.calls.setdefault(name, []).append(len(x))
            out = restore(x, *args, **kwargs)
            self.outputs[name] = (x.clone(), out.clone())
            return out

        return counted

    def experts(self) -> list[str]:
        return [t for t in RETOUCH_TYPES if t in self.calls]


def check_image(result: RestorationResult, shape):
    rgb = result.image.rgb
    assert rgb.shape == shape and rgb.dtype == np.float32
    assert np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1


# outputs


def test_aligned_crop_keeps_its_size(pipe, crop):
    result = pipe(crop, aligned=True, steps=STEPS, seed=0)
    check_image(result, crop.shape)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert isinstance(face, FaceResult) and face.box is None and face.alignment is None
    assert face.restored_crop.shape == face.input_crop.shape == crop.shape
    assert np.array_equal(result.image.rgb, face.restored_crop)
    assert np.abs(result.image.rgb - crop).mean() > 1e-4  # the randomised nets change it
    assert all(out.shape == crop.shape for out in face.expert_outputs.values())
    report = json.loads(json.dumps(result.to_dict()))
    assert report["method"] == pipe.method and report["steps"] == STEPS and report["seed"] == 0
    assert set(report["timings"]) == (MOFRR_STAGES if pipe.method == "mofrr" else FRR_STAGES)
    if pipe.method == "mofrr":
        assert list(report["routing"]) == list(RETOUCH_TYPES) == list(report["degrees"])
        assert all(0 <= v <= 1 for v in [*report["routing"].values(), *report["degrees"].values()])
        assert "shared" in face.expert_outputs and set(face.active) <= set(face.expert_outputs)
    else:
        assert report["routing"] == {} and report["active"] == [] and set(face.expert_outputs) == {"fmar"}


def test_whole_photo_with_two_faces(pipe, two_face_photo):
    photo = load_photo(two_face_photo)
    result = pipe(photo, steps=1, seed=0, size=256)
    check_image(result, photo.rgb.shape)
    assert len(result.faces) == 2
    boxes = [face.box for face in result.faces]
    assert all(box is not None for box in boxes) and boxes[0] != boxes[1]
    assert all(face.restored_crop.shape == (256, 256, 3) for face in result.faces)
    report = json.loads(json.dumps(result.to_dict()))
    assert len(report["faces"]) == 2 and all(len(f["box"]) == 4 and "alignment" in f for f in report["faces"])
    assert report["routing"] == report["faces"][0]["routing"]
    # outside the two face crops the photo is untouched
    assert np.array_equal(result.image.rgb[:4, :4], photo.rgb[:4, :4])


def test_faces_of_different_native_sizes_batch_together(frr, photos):
    """Crops cut at their own sizes share one batch once resized to the working shape."""
    small = Image.open(photos[0]).convert("RGB")
    small = small.resize((small.width * 3 // 4, small.height * 3 // 4))
    results = frr([small, load_photo(photos[0])], steps=1)
    sizes = {r.faces[0].restored_crop.shape for r in results}
    assert len(sizes) == 2 and all(r.image.rgb.shape[:2] == (img.height, img.width) for r, img in zip(results, [small, Image.open(photos[0])]))


def test_native_crop_size_by_default(frr, photos):
    result = frr(load_photo(photos[0]), steps=1)
    side = result.faces[0].input_crop.shape[0]
    assert 256 <= side <= 1024 and side % 32 == 0


def test_every_input_type_gives_the_same_result(frr, crop):
    u8 = np.round(crop * 255).astype(np.uint8)
    base = u8.astype(np.float32) / 255.0
    inputs = [Image.fromarray(u8), u8, base, torch.from_numpy(base).permute(2, 0, 1), torch.from_numpy(base), Photo(base)]
    outputs = [frr(image, aligned=True, steps=STEPS).image.rgb for image in inputs]
    assert all(np.array_equal(outputs[0], out) for out in outputs[1:])


def test_alpha_and_bit_depth_are_kept(frr, crop):
    alpha = np.linspace(0, 1, crop.shape[0] * crop.shape[1], dtype=np.float32).reshape(crop.shape[:2])
    result = frr(Photo(crop, alpha=alpha, bit_depth=16), aligned=True, steps=1)
    assert result.image.bit_depth == 16 and np.array_equal(result.image.alpha, alpha)
    rgba = Image.fromarray(np.dstack([np.round(crop * 255), np.full(crop.shape[:2], 128)]).astype(np.uint8), "RGBA")
    assert frr(rgba, aligned=True, steps=1).image.alpha is not None


def test_non_square_aligned_input(pipe, crop):
    check_image(pipe(crop[:, 40:-40], aligned=True, steps=1), (256, 176, 3))


def test_a_list_restores_each_image_as_alone(mofrr, aligned):
    crops = [aligned[0][0], aligned[1][0][:, 20:-20]]
    results = mofrr(crops, aligned=True, steps=STEPS, seed=5, gating="soft")
    assert isinstance(results, list) and len(results) == 2
    for crop, result in zip(crops, results):
        alone = mofrr(crop, aligned=True, steps=STEPS, seed=5, gating="soft")
        check_image(result, crop.shape)
        np.testing.assert_allclose(result.image.rgb, alone.image.rgb, atol=1e-5)
        assert result.faces[0].routing == pytest.approx(alone.faces[0].routing, abs=1e-6)


# gating


def test_hard_gating_runs_only_the_active_experts(mofrr, crop, monkeypatch):
    routing = mofrr(crop, aligned=True, steps=1).faces[0].routing
    middle = sorted(routing.values())[1]  # so that some run and some do not
    cases = {0.0: list(RETOUCH_TYPES), 1.0: [], middle: [t for t in RETOUCH_TYPES if routing[t] >= middle]}
    assert 0 < len(cases[middle]) < 4
    outputs = {}
    for threshold, expected in cases.items():
        counter = Counter(mofrr, monkeypatch)
        result = mofrr(crop, aligned=True, steps=1, threshold=threshold)
        assert counter.experts() == expected == result.faces[0].active
        assert all(counter.calls[t] == [1] for t in expected) and counter.calls["shared"] == [1]
        assert set(result.faces[0].expert_outputs) == {*expected, "shared"}
        outputs[threshold] = result.image.rgb
    # nothing active is exactly the merger over zero expert residuals
    assert np.array_equal(outputs[1.0], mofrr(crop, aligned=True, steps=1, experts=[]).image.rgb)
    assert not np.array_equal(outputs[0.0], outputs[1.0])


def test_soft_gating_runs_all_and_weights_by_probability(mofrr, crop, monkeypatch):
    counter = Counter(mofrr, monkeypatch)
    seen = {}
    forward = mofrr.merger.forward

    def merger_forward(retouched, residuals, shared):
        seen.update(retouched=retouched.clone(), residuals=residuals.clone(), shared=shared.clone())
        return forward(retouched, residuals, shared)

    monkeypatch.setattr(mofrr.merger, "forward", merger_forward)
    result = mofrr(crop, aligned=True, steps=1, gating="soft", threshold=1.0)
    assert counter.experts() == list(RETOUCH_TYPES) == result.faces[0].active
    for j, name in enumerate(RETOUCH_TYPES):
        x, out = counter.outputs[name]
        weighted = (out - x) * result.faces[0].routing[name]
        torch.testing.assert_close(seen["residuals"][:, j], weighted, atol=1e-6, rtol=1e-5)
    x, shared = counter.outputs["shared"]
    torch.testing.assert_close(seen["shared"], shared - x)


@pytest.mark.parametrize("experts", [["eye_enlargement", "smoothing"], "whitening", []])
def test_manual_experts_run_exactly_those(mofrr, crop, monkeypatch, experts):
    counter = Counter(mofrr, monkeypatch)
    result = mofrr(crop, aligned=True, steps=1, experts=experts, threshold=0.0)
    wanted = [t for t in RETOUCH_TYPES if t in (experts.split(",") if isinstance(experts, str) else experts)]
    assert counter.experts() == wanted == result.faces[0].active
    assert len(result.faces[0].routing) == 4 and result.to_dict()["experts"] == wanted


# seeds, saving, loading


def test_seed_determinism(pipe, crop):
    kwargs = dict(aligned=True, steps=STEPS) | ({"threshold": 0.0} if pipe.method == "mofrr" else {})
    a, b, c = (pipe(crop, seed=seed, **kwargs).image.rgb for seed in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def outputs_match(a, b, crop):
    for seed in (0, 1):
        assert np.array_equal(a(crop, aligned=True, steps=STEPS, seed=seed).image.rgb, b(crop, aligned=True, steps=STEPS, seed=seed).image.rgb)


def test_save_and_load_local_folder_is_bit_identical(pipe, crop, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "model_index.json").is_file()
    assert not list((tmp_path / "saved").rglob("*.bin"))
    loaded = type(pipe).from_pretrained(tmp_path / "saved")
    assert loaded.max_steps() == pipe.max_steps() and loaded.config.get("working_size") == pipe.config.get("working_size")
    outputs_match(pipe, loaded, crop)


def hub_cache(saved, cache, repo_id: str):
    """A Hugging Face cache layout (refs, blobs, snapshot symlinks) holding the files of `saved`."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for path in sorted(p for p in saved.rglob("*") if p.is_file()):
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / path.relative_to(saved)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    return snapshot


def test_load_from_offline_hub_cache_is_bit_identical(mofrr, crop, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    mofrr.save_pretrained(tmp_path / "saved")
    cache = tmp_path / "hf" / "hub"
    snapshot = hub_cache(tmp_path / "saved", cache, "mofrr/tiny")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))  # read at import time by huggingface_hub
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    shutil.rmtree(tmp_path / "saved")
    loaded = MoFRRPipeline.from_pretrained("mofrr/tiny")
    assert loaded.config._name_or_path == "mofrr/tiny" and loaded.config.working_size == mofrr.config.working_size
    assert snapshot.exists()
    outputs_match(mofrr, loaded, crop)


def test_lower_precision_runs(frr, crop):
    half = FRRffusionPipeline.from_config_name("tiny").to("cpu", torch.bfloat16)
    assert half.dtype == torch.bfloat16
    check_image(half(crop, aligned=True, steps=1), crop.shape)


# progress and errors


def test_callback_counts_every_step_and_can_abort(mofrr, crop):
    calls = []
    mofrr(crop, aligned=True, steps=3, experts=["whitening", "smoothing"], callback=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 9) for i in range(1, 10)]  # 3 steps x (2 experts + shared)

    class Stop(Exception):
        pass

    def stop(done, total):
        calls.append(done)
        if done == 2:
            raise Stop

    calls.clear()
    with pytest.raises(Stop):
        mofrr(crop, aligned=True, steps=3, callback=stop)
    assert calls == [1, 2]


def test_callback_spans_a_list(frr, aligned):
    calls = []
    frr([aligned[0][0], aligned[1][0][:, :200]], aligned=True, steps=2, callback=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 4) for i in range(1, 5)]  # two working shapes: two batches of 2 steps


@pytest.mark.parametrize(
    "options",
    [dict(steps=0), dict(steps=10_000), dict(seed=-1), dict(gating="medium"), dict(threshold=2), dict(experts=["tanning"]), dict(size=8)],
)
def test_bad_options_are_user_errors(mofrr, crop, options):
    with pytest.raises(MofrrError) as excinfo:
        mofrr(crop, aligned=True, **{"steps": 1, **options})
    assert "\n" not in str(excinfo.value)


def check_restored(result: RestorationResult, case, source: Photo):
    """A documented, sensible result: the whole photo back, same size, depth and alpha, every face restored."""
    check_image(result, source.rgb.shape)
    assert len(result.faces) == case.faces, case.name
    assert result.image.bit_depth == source.bit_depth and (result.image.alpha is None) == (source.alpha is None), case.name
    if case.size:
        assert result.image.size == case.size, case.name


def test_corpus_through_the_python_api(pipe, tmp_path, reliability):
    """Every file of the corpus (read with load_photo) and every array or tensor: a result or one clear line."""
    tried = 0
    for filename, case in bad_inputs.write_files(tmp_path).items():
        try:
            photo = load_photo(tmp_path / filename)
            result = pipe(photo, steps=1, name=filename)
        except MofrrError as exc:
            assert not case.restores, (case.name, str(exc))
            bad_inputs.check_message(str(exc), case, filename)
        else:
            assert case.restores, case.name
            check_restored(result, case, photo)
        tried += 1
    for case in bad_inputs.TENSORS:
        try:
            result = pipe(case.make(), aligned=True, steps=1, name="input")
        except MofrrError as exc:
            assert not case.restores, (case.name, str(exc))
            bad_inputs.check_message(str(exc), case, "" if case.name == "empty batch" else "input")  # no image to name
        else:
            assert case.restores and result.image.rgb.shape == (128, 128, 3), case.name
        tried += 1
    reliability[f"Python API ({pipe.method}): inputs tried, failures"] = f"{tried}, 0"


def test_a_batch_keeps_the_results_of_its_good_inputs(mofrr, photos):
    good = [load_photo(p).rgb for p in photos[:2]]
    wall = np.full((200, 200, 3), 0.5, np.float32)
    nan = good[0].copy()
    nan[0, 0] = np.nan
    options = dict(steps=1, seed=2, size=256)
    outcomes = restore_each(mofrr, [good[0], nan, wall, good[1]], name=["a.jpg", "nan.png", "wall.png", "b.jpg"], **options)
    assert isinstance(outcomes[1], ImageError) and "nan.png" in str(outcomes[1]) and "NaN" in str(outcomes[1])
    assert isinstance(outcomes[2], NoFaceError) and "wall.png: no face found" in str(outcomes[2])
    together = mofrr(good, **options)
    for outcome, expected in zip([outcomes[0], outcomes[3]], together):
        assert isinstance(outcome, RestorationResult) and np.array_equal(outcome.image.rgb, expected.image.rgb)
    assert all(isinstance(o, RestorationResult) for o in restore_each(mofrr, good, **options))
    with pytest.raises(MofrrError, match="steps must be a whole number"):
        restore_each(mofrr, [good[0], nan], steps=0)


def test_a_deadline_stops_sampling_at_the_next_step_and_the_next_call_runs(frr, crop):
    """A server's time limit per request (mofrr_core.deadline) stops a restoration at the first step past it."""
    now, steps = [0.0], []

    def step_takes_two_seconds(done, total):
        steps.append(done)
        now[0] += 2

    deadline = Deadline(5, clock=lambda: now[0])
    with pytest.raises(TimeLimitError, match="stopped after the 5 s limit per request; use fewer sampling steps"):
        frr(crop, aligned=True, steps=10, callback=deadline.around(step_takes_two_seconds))
    assert steps == [1, 2, 3]
    check_image(frr(crop, aligned=True, steps=2, callback=Deadline(None).around(step_takes_two_seconds)), crop.shape)
