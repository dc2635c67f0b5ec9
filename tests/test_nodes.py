"""The ComfyUI node pack without ComfyUI: every node's execute path on real photos and tiny weights.

The pack is imported as ComfyUI imports it; without `comfy_api` its nodes are classic nodes built
from the same V3-style classes, so `Node().run(**inputs)` here is what ComfyUI calls.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import bad_inputs
from conftest import EXAMPLES, ROOT
from mofrr_core.errors import MofrrError, NoFaceError, WeightsError
from mofrr_core.imageio import load_photo
from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline
from mofrr_core.types import RETOUCH_TYPES
from test_pipelines import randomise_

STEPS = 2


def import_pack():
    """The repo root imported the way ComfyUI imports a custom-node folder."""
    if "mofrr_pack" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mofrr_pack", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["mofrr_pack"] = module
        spec.loader.exec_module(module)
    return sys.modules["mofrr_pack"]


PACK = import_pack()
NODES = PACK.NODE_CLASS_MAPPINGS
runtime = importlib.import_module("mofrr_pack.nodes.runtime")
model_folder = importlib.import_module("mofrr_pack.nodes.model_folder")


def run(node_id: str, **inputs):
    """Run a node as ComfyUI's classic executor does; returns its outputs (a tuple)."""
    out = NODES[node_id]().run(**inputs)
    return out["result"] if isinstance(out, dict) else out


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Tiny randomised MoFRR and FRRffusion pipelines saved as safetensors folders, and another MoFRR set."""
    root = tmp_path_factory.mktemp("weights")
    randomise_(MoFRRPipeline.from_config_name("tiny", seed=0)).save_pretrained(root / "mofrr")
    randomise_(FRRffusionPipeline.from_config_name("tiny", seed=0)).save_pretrained(root / "frrffusion")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        randomise_(MoFRRPipeline.from_config_name("tiny", seed=1)).save_pretrained(root / "mofrr_other")
    return root


@pytest.fixture(scope="module")
def mofrr(weights):
    return run("MofrrLoadMoFRRPipeline", weights="bundled", path_or_repo_id=str(weights / "mofrr"))[0]


@pytest.fixture(scope="module")
def frr(weights):
    return run("MofrrLoadFRRffusionPipeline", weights="bundled", path_or_repo_id=str(weights / "frrffusion"))[0]


@pytest.fixture(scope="module")
def image():
    """A real photo as a ComfyUI IMAGE [1, H, W, 3]."""
    return torch.from_numpy(load_photo(sorted(EXAMPLES.glob("*.jpg"))[1]).rgb)[None]


@pytest.fixture(scope="module")
def faces(image):
    """(crops, face_alignment) of the photo at 256 px."""
    return run("MofrrDetectAlignFaces", image=image, size=256, max_faces=0)


# the pack


def test_every_node_is_listed_with_a_category_and_typed_io():
    assert len(NODES) == 17 and set(NODES) == set(PACK.NODE_DISPLAY_NAME_MAPPINGS)
    for node_id, node in NODES.items():
        schema = node.GET_SCHEMA()
        assert node_id.startswith("Mofrr") and node.CATEGORY.startswith("mofrr/") and schema.description
        ids = [i.id for i in schema.inputs] + [o.id for o in schema.outputs]
        assert len(ids) == len(set(ids)), f"{node_id}: V3 needs unique input and output ids"
        types = node.INPUT_TYPES()
        assert set(types["required"]) | set(types["optional"]) == {i.id for i in schema.inputs}
        assert node.RETURN_TYPES and len(node.RETURN_TYPES) == len(node.RETURN_NAMES)


def test_listing_reads_no_weights_and_imports_no_torch_model(weights, monkeypatch):
    monkeypatch.setattr(model_folder, "folder_paths", SimpleNamespace(get_folder_paths=lambda name: [str(weights)]))
    assert model_folder.choices("MoFRRPipeline") == ["bundled", "mofrr", "mofrr_other"]
    assert model_folder.choices("FRRffusionPipeline") == ["bundled", "frrffusion"]
    assert NODES["MofrrLoadMoFRRPipeline"].INPUT_TYPES()["required"]["weights"][0] == ["bundled", "mofrr", "mofrr_other"]


# loaders


def test_loader_caches_on_comfy_device(weights, mofrr, monkeypatch):
    assert isinstance(mofrr, MoFRRPipeline) and mofrr.device.type == "cpu"
    assert run("MofrrLoadMoFRRPipeline", weights="bundled", path_or_repo_id=str(weights / "mofrr"))[0] is mofrr
    monkeypatch.setattr(runtime, "model_management", SimpleNamespace(get_torch_device=lambda: torch.device("meta")))
    monkeypatch.setattr(model_folder, "folder_paths", SimpleNamespace(get_folder_paths=lambda name: [str(weights)]))
    moved = run("MofrrLoadMoFRRPipeline", weights="mofrr", path_or_repo_id="")[0]
    assert moved is not mofrr and moved.device.type == "meta"


def test_loader_errors_are_one_line(weights, monkeypatch):
    import mofrr_core.weights

    def no_bundled(method):
        raise WeightsError("none")

    monkeypatch.setattr(mofrr_core.weights, "default_weights", no_bundled)
    with pytest.raises(WeightsError, match="no bundled weights for mofrr yet; put a pipeline folder in ComfyUI's models/mofrr/"):
        run("MofrrLoadMoFRRPipeline", weights="bundled", path_or_repo_id="")
    with pytest.raises(WeightsError, match="no such folder in models/mofrr/"):
        run("MofrrLoadMoFRRPipeline", weights="gone", path_or_repo_id="")
    with pytest.raises(WeightsError, match="expected a MoFRRPipeline"):
        run("MofrrLoadMoFRRPipeline", weights="bundled", path_or_repo_id=str(weights / "frrffusion"))


def same_weights(a, b) -> bool:
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_component_loader_swaps_one_component(weights, mofrr):
    loader = importlib.import_module("mofrr_pack.nodes.loaders")
    assert loader.COMPONENTS["mofrr"] == list(MoFRRPipeline.component_classes())
    assert loader.COMPONENTS["frrffusion"] == list(FRRffusionPipeline.component_classes())
    swapped = run("MofrrLoadMoFRRComponent", pipeline=mofrr, component="wavefrr_whitening", weights="bundled",
                  path_or_repo_id=str(weights / "mofrr_other"))[0]
    other = MoFRRPipeline.from_pretrained(weights / "mofrr_other")
    assert same_weights(swapped.wavefrr_whitening, other.wavefrr_whitening) and not same_weights(swapped.wavefrr_whitening, mofrr.wavefrr_whitening)
    assert swapped.router is mofrr.router and swapped.config.working_size == mofrr.config.working_size == 64
    single = run("MofrrLoadMoFRRComponent", pipeline=mofrr, component="merger", weights="bundled",
                 path_or_repo_id=str(weights / "mofrr_other" / "merger"))[0]
    assert same_weights(single.merger, other.merger)
    with pytest.raises(WeightsError, match="describes a Merger, expected a Router"):
        run("MofrrLoadMoFRRComponent", pipeline=mofrr, component="router", weights="bundled", path_or_repo_id=str(weights / "mofrr_other" / "merger"))


def test_frrffusion_component_loader(weights, frr):
    swapped = run("MofrrLoadFRRffusionComponent", pipeline=frr, component="hfdg", weights="bundled", path_or_repo_id=str(weights / "frrffusion"))[0]
    assert swapped is not frr and swapped.fmar is frr.fmar and isinstance(swapped, FRRffusionPipeline)


# faces


def test_detect_and_paste_back_round_trip(image):
    batch = torch.cat([image, image.flip(2)])
    crops, alignment = run("MofrrDetectAlignFaces", image=batch, size=128, max_faces=1)
    assert crops.shape == (2, 128, 128, 3) and crops.dtype == torch.float32 and alignment.images == [0, 1]
    (same,) = run("MofrrPasteFacesBack", image=batch, crops=crops, face_alignment=alignment, feather=0.06)
    assert torch.equal(same, batch)
    (edited,) = run("MofrrPasteFacesBack", image=batch, crops=(crops * 0.5).contiguous(), face_alignment=alignment, feather=0.2)
    changed = (edited - batch).abs().amax(-1) > 0
    assert changed[0].any() and changed[1].any() and not changed[:, 0, 0].any()


def test_paste_back_errors_are_clear(image, faces):
    """(Bad IMAGE values and layouts, and images without a face, are in test_corpus_through_every_node and
    test_a_batch_keeps_the_images_with_faces.)"""
    crops, alignment = faces
    with pytest.raises(MofrrError, match="not the images the faces were detected in"):
        run("MofrrPasteFacesBack", image=image[:, :-8], crops=crops, face_alignment=alignment, feather=0.06)
    with pytest.raises(MofrrError, match="cannot go back where a 256x256 crop came from"):
        run("MofrrPasteFacesBack", image=image, crops=crops[:, :128, :128].contiguous(), face_alignment=alignment, feather=0.06)


# MoFRR


def test_router_reports_probabilities_degrees_and_experts(mofrr, faces):
    routing, text = run("MofrrRouter", pipeline=mofrr, crops=faces[0], gating="hard", threshold=0.5, experts="")
    face = routing.face(0)
    assert len(routing) == 1 and set(face.routing) == set(RETOUCH_TYPES)
    assert face.active == [t for t in RETOUCH_TYPES if face.routing[t] >= 0.5]
    assert text.startswith("crop 0: experts") and all(f"{t}: p={face.routing[t]:.2f}" in text for t in RETOUCH_TYPES)
    manual, _ = run("MofrrRouter", pipeline=mofrr, crops=faces[0], gating="hard", threshold=0.5, experts="smoothing, whitening")
    assert manual.face(0).active == ["whitening", "smoothing"]
    with pytest.raises(MofrrError, match="unknown retouch type 'blush'"):
        run("MofrrRouter", pipeline=mofrr, crops=faces[0], gating="hard", threshold=0.5, experts="blush")


def test_stage_graph_equals_the_one_node_restore(mofrr, image, faces):
    """detect -> router -> unsmooth -> unwarp -> 4 experts + shared -> merger -> paste back is exactly MoFRR restore
    where the crops are at the working size (unsmooth's and unwarp's images are crops, as the bundled lite's 256)."""
    crops, alignment = faces
    mofrr = type(mofrr)(**mofrr.components, working_size=crops.shape[1])
    routing, _ = run("MofrrRouter", pipeline=mofrr, crops=crops, gating="soft", threshold=0.5, experts="")
    (unsmoothed,) = run("MofrrUnsmooth", pipeline=mofrr, crops=crops, routing=routing)
    (unwarped,) = run("MofrrUnwarp", pipeline=mofrr, crops=unsmoothed, routing=routing)
    assert not torch.equal(unsmoothed, crops) and not torch.equal(unwarped, unsmoothed)  # soft gating: every type at its degree times its probability
    _, shared = run("MofrrSharedExpert", pipeline=mofrr, crops=unwarped, steps=STEPS, seed=3)
    experts = {  # any socket order
        f"expert_{k + 1}": run("MofrrWaveFRRExpert", pipeline=mofrr, crops=unwarped, routing=routing, retouch_type=t, steps=STEPS, seed=3)[1]
        for k, t in enumerate(reversed(RETOUCH_TYPES))
    }
    (restored,) = run("MofrrMerger", pipeline=mofrr, crops=unwarped, routing=routing, shared=shared, **experts)
    (photo,) = run("MofrrPasteFacesBack", image=image, crops=restored, face_alignment=alignment, feather=0.06)
    whole, report = run("MofrrRestore", pipeline=mofrr, image=image, steps=STEPS, seed=3, gating="soft", threshold=0.5, experts="", aligned=False, size=256)
    assert photo.shape == whole.shape == image.shape and torch.equal(photo, whole)
    assert not torch.equal(whole, image)
    (face,) = json.loads(report)[0]["faces"]
    assert face["routing"] == pytest.approx(routing.face(0).routing) and face["active"] == list(RETOUCH_TYPES)


def test_experts_run_only_where_routed_and_merger_takes_any_subset(mofrr, faces):
    crops = faces[0]
    routing, _ = run("MofrrRouter", pipeline=mofrr, crops=crops, gating="hard", threshold=0.5, experts="eye_enlargement")
    image, link = run("MofrrWaveFRRExpert", pipeline=mofrr, crops=crops, routing=routing, retouch_type="whitening", steps=STEPS, seed=0)
    assert torch.equal(image, crops) and link.expert == "whitening"  # not routed: passes through
    image, link = run("MofrrWaveFRRExpert", pipeline=mofrr, crops=crops, routing=routing, retouch_type="eye_enlargement", steps=STEPS, seed=0)
    assert image.shape == crops.shape and not torch.equal(image, crops)
    shared_image, shared = run("MofrrSharedExpert", pipeline=mofrr, crops=crops, steps=STEPS, seed=0)
    assert shared.expert == "shared" and not torch.equal(shared_image, crops)
    (alone,) = run("MofrrMerger", pipeline=mofrr, crops=crops, routing=routing, shared=shared)
    (both,) = run("MofrrMerger", pipeline=mofrr, crops=crops, routing=routing, shared=shared, expert_3=link)
    assert alone.shape == both.shape == crops.shape and not torch.equal(alone, both)
    with pytest.raises(MofrrError, match="connect the shared expert here"):
        run("MofrrMerger", pipeline=mofrr, crops=crops, routing=routing, shared=link)
    with pytest.raises(MofrrError, match="connected twice"):
        run("MofrrMerger", pipeline=mofrr, crops=crops, routing=routing, shared=shared, expert_1=link, expert_2=link)
    with pytest.raises(MofrrError, match="routing holds 1 face"):
        run("MofrrWaveFRRExpert", pipeline=mofrr, crops=torch.cat([crops, crops]), routing=routing, retouch_type="whitening", steps=1, seed=0)
    with pytest.raises(MofrrError, match="steps must be a whole number from 1 to 200"):
        run("MofrrSharedExpert", pipeline=mofrr, crops=crops, steps=500, seed=0)


def test_one_node_restore_on_batches_and_aligned_crops(mofrr, image, faces):
    batch = torch.cat([image, image.flip(2)])
    restored, report = run("MofrrRestore", pipeline=mofrr, image=batch, steps=1, seed=0, gating="hard", threshold=0.5, experts="", aligned=False, size=0)
    assert restored.shape == batch.shape and len(json.loads(report)) == 2
    crops = torch.cat([faces[0], faces[0]])
    restored, report = run("MofrrRestore", pipeline=mofrr, image=crops, steps=1, seed=0, gating="hard", threshold=0.5, experts="", aligned=True, size=0)
    assert restored.shape == crops.shape and torch.equal(restored[0], restored[1])
    assert json.loads(report)[0]["aligned"] is True
    with pytest.raises(MofrrError, match="gating must be one of hard, soft"):
        run("MofrrRestore", pipeline=mofrr, image=crops, steps=1, seed=0, gating="all", threshold=0.5, experts="", aligned=True, size=0)


# FRRffusion


def test_frrffusion_coarse_to_fine_equals_the_pipeline(frr, image, faces):
    crops, alignment = faces
    coarse_image, coarse = run("MofrrFRRffusionCoarse", pipeline=frr, crops=crops, steps=STEPS, seed=5)
    assert coarse_image.shape == crops.shape
    (restored,) = run("MofrrFRRffusionFine", pipeline=frr, crops=crops, coarse=coarse)
    (photo,) = run("MofrrPasteFacesBack", image=image, crops=restored, face_alignment=alignment, feather=0.06)
    expected = frr(image[0], steps=STEPS, seed=5, size=256)
    assert np.array_equal(photo[0].numpy(), expected.image.rgb)
    assert np.array_equal(coarse_image[0].numpy(), expected.faces[0].expert_outputs["fmar"])
    with pytest.raises(MofrrError, match="made from crops of another size"):
        run("MofrrFRRffusionFine", pipeline=frr, crops=crops[:, :, :128].contiguous(), coarse=coarse)


# progress and interrupt


class InterruptProcessingException(Exception):
    """What comfy.model_management raises when the interrupt button is pressed (an ordinary Exception)."""


class FakeComfy:
    """Stand-ins for comfy.model_management and comfy.utils that record progress and can interrupt."""

    def __init__(self, interrupt_after: int | None = None):
        self.updates: list[tuple[int, int]] = []
        self.checks = 0
        self.interrupt_after = interrupt_after
        self.model_management = SimpleNamespace(get_torch_device=lambda: torch.device("cpu"), throw_exception_if_processing_interrupted=self.check)
        self.utils = SimpleNamespace(ProgressBar=lambda total: SimpleNamespace(update_absolute=lambda done, total: self.updates.append((done, total))))

    def check(self):
        self.checks += 1
        if self.interrupt_after is not None and self.checks > self.interrupt_after:
            raise InterruptProcessingException("interrupted")

    def install(self, monkeypatch):
        monkeypatch.setattr(runtime, "model_management", self.model_management)
        monkeypatch.setattr(runtime, "comfy_utils", self.utils)
        return self


def test_progress_bar_moves_per_step(mofrr, frr, image, faces, monkeypatch):
    fake = FakeComfy().install(monkeypatch)
    run("MofrrSharedExpert", pipeline=mofrr, crops=faces[0], steps=3, seed=0)
    assert fake.updates == [(1, 3), (2, 3), (3, 3)]
    fake.updates.clear()
    run("MofrrFRRffusionCoarse", pipeline=frr, crops=faces[0], steps=2, seed=0)
    assert fake.updates == [(1, 2), (2, 2)]
    fake.updates.clear()
    run("MofrrRestore", pipeline=mofrr, image=image, steps=2, seed=0, gating="hard", threshold=0.0, experts="", aligned=False, size=0)
    assert fake.updates == [(k, 10) for k in range(1, 11)]  # 4 experts + shared, 2 steps each


def test_interrupt_stops_sampling_within_one_step_and_the_next_run_works(mofrr, frr, image, faces, monkeypatch):
    restore = dict(pipeline=mofrr, image=image, seed=0, gating="hard", threshold=0.0, experts="", aligned=False, size=0)
    coarse = dict(pipeline=frr, crops=faces[0], seed=0)
    expected = run("MofrrRestore", **restore, steps=2)[0], run("MofrrFRRffusionCoarse", **coarse, steps=2)[0]
    fake = FakeComfy(interrupt_after=1).install(monkeypatch)
    with pytest.raises(InterruptProcessingException):
        run("MofrrRestore", **restore, steps=50)
    assert fake.checks == 2 and fake.updates == [(1, 250)]
    fake = FakeComfy(interrupt_after=3).install(monkeypatch)
    with pytest.raises(InterruptProcessingException):
        run("MofrrFRRffusionCoarse", **coarse, steps=500)
    assert fake.checks == 4 and fake.updates == [(1, 500), (2, 500), (3, 500)]
    FakeComfy().install(monkeypatch)
    again = run("MofrrRestore", **restore, steps=2)[0], run("MofrrFRRffusionCoarse", **coarse, steps=2)[0]
    assert all(torch.equal(a, b) for a, b in zip(again, expected))


# retouch simulator and report


def test_retouch_simulator_records_what_it_did(image):
    strengths = dict(whitening=60.0, smoothing=0.0, face_slimming=40.0, eye_enlargement=0.0)
    retouched, record = run("MofrrRetouchSimulator", image=image, seed=1, **strengths)
    again, _ = run("MofrrRetouchSimulator", image=image, seed=1, **strengths)
    assert retouched.shape == image.shape and torch.equal(retouched, again) and not torch.equal(retouched, image)
    (face,) = json.loads(record)[0]["faces"]
    assert [op["op"] for op in face["ops"]] == ["whitening", "face_slimming"] and face["levels"]["whitening"] == 4
    (untouched, _) = run("MofrrRetouchSimulator", image=image, seed=1, whitening=0.0, smoothing=0.0, face_slimming=0.0, eye_enlargement=0.0)
    assert torch.equal(untouched, image)


def test_retouch_report_heat_map_and_text(mofrr, image):
    retouched, record = run("MofrrRetouchSimulator", image=image, seed=0, whitening=80.0, smoothing=50.0, face_slimming=0.0, eye_enlargement=0.0)
    restored, report = run("MofrrRestore", pipeline=mofrr, image=retouched, steps=1, seed=0, gating="hard", threshold=0.5, experts="", aligned=False, size=0)
    out = NODES["MofrrRetouchReport"]().run(retouched=image, restored=retouched, restore_report=report, retouch_record=record)
    heat, text = out["result"]
    assert out["ui"] == {"text": [text]} and NODES["MofrrRetouchReport"].OUTPUT_NODE
    assert heat.shape == image.shape and heat.min() >= 0 and heat.max() <= 1
    changed = (retouched - image).abs().amax(-1) > 0
    assert heat[0][~changed[0]].max() < heat[0][changed[0]].max()
    assert "face 0 retouched with: whitening 80 (level 5), smoothing 50 (level 3)" in text
    assert "restored with mofrr, 1 steps, seed 0" in text and "whitening: p=" in text
    (heat_only, plain) = NODES["MofrrRetouchReport"]().run(retouched=image, restored=image)["result"]
    assert plain.startswith("image 0: mean change 0.00/255") and heat_only.shape == image.shape
    with pytest.raises(MofrrError, match="not a report"):
        NODES["MofrrRetouchReport"]().run(retouched=image, restored=image, restore_report="hello")
    with pytest.raises(MofrrError, match="compare images of one size"):
        NODES["MofrrRetouchReport"]().run(retouched=image, restored=image[:, :-2])


# the bad-input corpus (tests/bad_inputs.py) through every node

SIMULATOR = dict(whitening=50.0, smoothing=0.0, face_slimming=0.0, eye_enlargement=0.0)


def image_inputs(mofrr, frr, image, faces) -> dict[str, tuple[str, str, Callable]]:
    """Every IMAGE input of every node: label -> (node, input name, inputs given the value of that one)."""
    crops, alignment = faces
    routing, _ = run("MofrrRouter", pipeline=mofrr, crops=crops, gating="hard", threshold=0.5, experts="")
    _, shared = run("MofrrSharedExpert", pipeline=mofrr, crops=crops, steps=1, seed=0)
    _, coarse = run("MofrrFRRffusionCoarse", pipeline=frr, crops=crops, steps=1, seed=0)
    gating = dict(gating="hard", threshold=0.5, experts="")
    return {
        "detect.image": ("MofrrDetectAlignFaces", "image", lambda x: dict(image=x, size=256, max_faces=0)),
        "paste.image": ("MofrrPasteFacesBack", "image", lambda x: dict(image=x, crops=crops, face_alignment=alignment, feather=0.06)),
        "paste.crops": ("MofrrPasteFacesBack", "crops", lambda x: dict(image=image, crops=x, face_alignment=alignment, feather=0.06)),
        "router.crops": ("MofrrRouter", "crops", lambda x: dict(pipeline=mofrr, crops=x, **gating)),
        "unsmooth.crops": ("MofrrUnsmooth", "crops", lambda x: dict(pipeline=mofrr, crops=x, routing=routing)),
        "unwarp.crops": ("MofrrUnwarp", "crops", lambda x: dict(pipeline=mofrr, crops=x, routing=routing)),
        "expert.crops": ("MofrrWaveFRRExpert", "crops",
                         lambda x: dict(pipeline=mofrr, crops=x, routing=routing, retouch_type="whitening", steps=1, seed=0)),
        "shared.crops": ("MofrrSharedExpert", "crops", lambda x: dict(pipeline=mofrr, crops=x, steps=1, seed=0)),
        "merger.crops": ("MofrrMerger", "crops", lambda x: dict(pipeline=mofrr, crops=x, routing=routing, shared=shared)),
        "restore.image": ("MofrrRestore", "image", lambda x: dict(pipeline=mofrr, image=x, steps=1, seed=0, aligned=False, size=0, **gating)),
        "coarse.crops": ("MofrrFRRffusionCoarse", "crops", lambda x: dict(pipeline=frr, crops=x, steps=1, seed=0)),
        "fine.crops": ("MofrrFRRffusionFine", "crops", lambda x: dict(pipeline=frr, crops=x, coarse=coarse)),
        "simulator.image": ("MofrrRetouchSimulator", "image", lambda x: dict(image=x, seed=0, **SIMULATOR)),
        "report.retouched": ("MofrrRetouchReport", "retouched", lambda x: dict(retouched=x, restored=image)),
        "report.restored": ("MofrrRetouchReport", "restored", lambda x: dict(retouched=image, restored=x)),
    }


def test_corpus_through_every_node(mofrr, frr, image, faces, tmp_path, reliability):
    """Every bad IMAGE (NaN, inf, wrong layouts, ...) into every IMAGE input of every node, and every decodable file of
    the corpus (as ComfyUI's image loader gives it) through the photo nodes: a result or one clear line, never a crash."""
    tried = 0
    for label, (node, name, inputs) in image_inputs(mofrr, frr, image, faces).items():
        for case in bad_inputs.IMAGES:
            with pytest.raises(MofrrError) as excinfo:
                run(node, **inputs(case.make()))
            bad_inputs.check_message(str(excinfo.value), case, name)
            tried += 1
    for filename, (path, case) in bad_inputs.photo_cases(tmp_path).items():
        photo = load_photo(path)
        batch = torch.from_numpy(runtime.with_alpha(photo))[None]
        for node, inputs in [
            ("MofrrDetectAlignFaces", dict(image=batch, size=128, max_faces=0)),
            ("MofrrRestore", dict(pipeline=mofrr, image=batch, steps=1, seed=0, gating="hard", threshold=0.5, experts="", aligned=False, size=0)),
            ("MofrrRetouchSimulator", dict(image=batch, seed=0, **SIMULATOR)),
        ]:
            try:
                out, text = run(node, **inputs)
            except MofrrError as exc:
                assert not case.restores, (node, case.name, str(exc))
                bad_inputs.check_message(str(exc), case, "image[0]")
            else:
                assert case.restores, (node, case.name)
                found = len(text.faces) if node == "MofrrDetectAlignFaces" else len(json.loads(text)[0]["faces"])
                assert found == case.faces, (node, case.name)
                assert node == "MofrrDetectAlignFaces" or out.shape == batch.shape, (node, case.name)
            tried += 1
    reliability["ComfyUI nodes: inputs tried, failures"] = f"{tried}, 0"


def test_a_batch_keeps_the_images_with_faces(mofrr):
    """An image without a face in a batch passes through unchanged, its report says why; the others are processed as
    if alone. With no face in any image the node stops with the error."""
    image = torch.from_numpy(np.asarray(bad_inputs._portrait(0, 120), np.float32) / 255)[None]  # small: quick to search
    wall = torch.full_like(image, 0.5)
    batch = torch.cat([image, wall])
    restore = dict(pipeline=mofrr, steps=1, seed=0, gating="hard", threshold=0.5, experts="", aligned=False, size=0)
    restored, report = run("MofrrRestore", image=batch, **restore)
    alone, _ = run("MofrrRestore", image=image, **restore)
    assert torch.equal(restored[:1], alone) and torch.equal(restored[1], wall[0])
    reports = json.loads(report)
    assert len(reports[0]["faces"]) == 1 and reports[1] == {"input": "image[1]", "error": reports[1]["error"]}
    assert reports[1]["error"].startswith("image[1]: no face found")
    crops, alignment = run("MofrrDetectAlignFaces", image=batch, size=128, max_faces=0)
    assert len(crops) == 1 and alignment.images == [0]
    (pasted,) = run("MofrrPasteFacesBack", image=batch, crops=(crops * 0.9).contiguous(), face_alignment=alignment, feather=0.06)
    assert not torch.equal(pasted[0], batch[0]) and torch.equal(pasted[1], batch[1])
    retouched, record = run("MofrrRetouchSimulator", image=batch, seed=0, **SIMULATOR)
    assert torch.equal(retouched[1], wall[0]) and "no face found" in json.loads(record)[1]["error"]
    text = NODES["MofrrRetouchReport"]().run(retouched=batch, restored=restored, restore_report=report, retouch_record=record)["result"][1]
    assert "restoration failed: image[1]: no face found" in text
    no_face = [("MofrrRestore", dict(image=torch.cat([wall, wall]), **restore)), ("MofrrDetectAlignFaces", dict(image=wall, size=128, max_faces=0))]
    for node, inputs in no_face:
        with pytest.raises(NoFaceError, match=r"image\[0\]: no face found"):
            run(node, **inputs)
