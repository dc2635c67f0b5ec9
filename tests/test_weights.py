"""Safe weights loading: every broken or unsafe weights folder is one clear WeightsError line."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from mofrr_core.errors import MofrrError, WeightsError
from mofrr_core.models import HFDG
from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline
from mofrr_core.weights import (
    BUNDLED,
    MANIFEST,
    check_component,
    check_pipeline_folder,
    default_weights,
    load_component,
    read_header,
    read_manifest,
    resolve_weights,
    verify_manifest,
    write_manifest,
)

WEIGHTS = "diffusion_pytorch_model.safetensors"
# a minimal protocol-2 pickle stream (an empty dict), written as bytes: nothing is ever pickled or unpickled
PICKLE_BYTES = b"\x80\x02}q\x00."


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny FRRffusion pipeline saved once; tests work on copies."""
    folder = tmp_path_factory.mktemp("saved") / "frr"
    FRRffusionPipeline.from_config_name("tiny").save_pretrained(folder)
    return folder


@pytest.fixture
def folder(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "frr")


def load(folder):
    return FRRffusionPipeline.from_pretrained(folder)


def clear_error(excinfo, *names: str) -> str:
    """The message: one line, no traceback text, naming every given file or tensor."""
    message = str(excinfo.value)
    assert isinstance(excinfo.value, WeightsError) and isinstance(excinfo.value, MofrrError)
    assert "\n" not in message and "Traceback" not in message and len(message) < 600, message
    for name in names:
        assert name in message, message
    return message


def test_a_saved_folder_checks_and_loads_bit_identically(saved):
    files = check_pipeline_folder(saved, FRRffusionPipeline.component_classes(), pipeline="FRRffusionPipeline")
    assert set(files.components) == {"fmar", "hfdg"}
    original = FRRffusionPipeline.from_config_name("tiny")
    loaded = load(saved)
    for name in ("fmar", "hfdg"):
        a, b = getattr(original, name).state_dict(), getattr(loaded, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.config._name_or_path == str(saved)


def test_missing_component_folder(folder):
    shutil.rmtree(folder / "hfdg")
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "missing" in clear_error(excinfo, "hfdg")


@pytest.mark.parametrize("name", [WEIGHTS, "config.json"])
def test_missing_component_file(folder, name):
    (folder / "fmar" / name).unlink()
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "missing" in clear_error(excinfo, name)


def test_missing_model_index(folder):
    (folder / "model_index.json").unlink()
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    clear_error(excinfo, "model_index.json")


def test_weights_of_the_other_method_are_named(folder):
    with pytest.raises(WeightsError) as excinfo:
        MoFRRPipeline.from_pretrained(folder)
    clear_error(excinfo, "model_index.json", "FRRffusionPipeline")


@pytest.mark.parametrize("keep", [0, 5, 200, -100, -1])
def test_truncated_safetensors(folder, keep):
    path = folder / "hfdg" / WEIGHTS
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    message = clear_error(excinfo, WEIGHTS, "hfdg")
    assert any(word in message for word in ("truncated", "empty", "corrupt")), message


def test_corrupt_header(folder):
    path = folder / "fmar" / WEIGHTS
    data = bytearray(path.read_bytes())
    data[8:12] = b"\xff\xfe{]"
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "corrupt header" in clear_error(excinfo, WEIGHTS)


@pytest.mark.parametrize("kind", ["zip", "pickle"])
def test_pickle_renamed_to_safetensors_is_refused_unread(folder, kind):
    path = folder / "hfdg" / WEIGHTS
    if kind == "zip":  # the layout of a torch.save file, built without pickling anything
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", PICKLE_BYTES)
            archive.writestr("archive/version", "3\n")
    else:
        path.write_bytes(PICKLE_BYTES + bytes(64))
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "pickle" in clear_error(excinfo, WEIGHTS)


def rewrite(path, change):
    """Re-save a safetensors file after `change(tensors)` (plain safetensors I/O)."""
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def test_wrong_tensor_shape_names_tensor_and_shapes(folder):
    path = folder / "fmar" / WEIGHTS
    key = sorted(load_file(path))[3]
    expected = list(load_file(path)[key].shape)
    rewrite(path, lambda t: t.__setitem__(key, torch.zeros(*[s + 1 for s in expected])))
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    clear_error(excinfo, WEIGHTS, key, str(expected), str([s + 1 for s in expected]))


def test_weights_of_another_configuration_are_named(folder, tmp_path):
    """Whole components of another size (lite HFDG into a tiny folder): shapes disagree with config.json."""
    other = tmp_path / "lite"
    HFDG(**{**json.loads((folder / "hfdg" / "config.json").read_text()), "embed_dim": 16}).save_pretrained(other)
    shutil.copy(other / WEIGHTS, folder / "hfdg" / WEIGHTS)
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "expected" in clear_error(excinfo, WEIGHTS)


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8, torch.bool])
def test_non_float_tensor_is_refused(folder, dtype):
    path = folder / "hfdg" / WEIGHTS
    key = next(k for k, v in load_file(path).items() if v.is_floating_point())
    rewrite(path, lambda t: t.__setitem__(key, t[key].to(dtype)))
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "dtype" in clear_error(excinfo, WEIGHTS, key)


def test_missing_and_extra_tensors(folder):
    path = folder / "hfdg" / WEIGHTS
    key = sorted(load_file(path))[0]
    rewrite(path, lambda t: t.pop(key))
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    clear_error(excinfo, WEIGHTS, key, "missing")
    rewrite(path, lambda t: t.update({key: torch.zeros(1), "stray.weight": torch.zeros(2)}))
    with pytest.raises(WeightsError):
        load(folder)


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".ckpt"])
def test_pickle_based_files_instead_of_safetensors_are_refused(folder, suffix):
    (folder / "fmar" / WEIGHTS).unlink()
    (folder / "fmar" / f"diffusion_pytorch_model{suffix}").write_bytes(PICKLE_BYTES)
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    assert "refused" in clear_error(excinfo, f"diffusion_pytorch_model{suffix}")


def test_fp16_weights_load_into_float32_models(folder):
    path = folder / "hfdg" / WEIGHTS
    rewrite(path, lambda t: t.update({k: v.half() for k, v in t.items() if v.is_floating_point()}))
    pipe = load(folder)
    assert pipe.hfdg.dtype == torch.float32
    assert FRRffusionPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16).hfdg.dtype == torch.bfloat16


def test_a_bad_config_is_one_line(folder):
    config = folder / "hfdg" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "upscale": 3}))
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    clear_error(excinfo, "config.json", "HFDG")
    config.write_text("{not json")
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    clear_error(excinfo, "config.json", "JSON")


def test_fuzzed_headers_give_weights_errors_only(saved, tmp_path):  # random bytes; see also the structured fuzz below
    """Random byte changes in a header either still load the same tensors or raise WeightsError, nothing else."""
    original = (saved / "hfdg" / WEIGHTS).read_bytes()
    header_end = 8 + int.from_bytes(original[:8], "little")
    reference = load_file(saved / "hfdg" / WEIGHTS)
    component = shutil.copytree(saved / "hfdg", tmp_path / "hfdg")
    rng = np.random.default_rng(0)
    errors = 0
    for trial in range(150):
        data = bytearray(original)
        for pos in rng.integers(0, header_end, size=rng.integers(1, 4)):
            data[pos] = int(rng.integers(0, 256))
        (component / WEIGHTS).write_bytes(bytes(data))
        try:
            model = load_component(check_component(component, HFDG), HFDG)
        except WeightsError as exc:
            errors += 1
            assert "\n" not in str(exc) and WEIGHTS in str(exc), (trial, str(exc))
            continue
        state = model.state_dict()
        assert all(torch.equal(state[k], reference[k]) for k in reference), trial
    assert errors > 100


def test_read_header_lists_tensors(saved):
    header = read_header(saved / "fmar" / WEIGHTS)
    assert header and all(info.dtype == "F32" for info in header.values())


def test_resolve_weights_local_folder_and_clear_misses(saved, tmp_path):
    assert resolve_weights(saved) == saved and resolve_weights(str(saved)) == saved
    missing = tmp_path / "no-such-weights"
    with pytest.raises(WeightsError) as excinfo:
        resolve_weights(missing)
    assert "not found locally or in the Hugging Face cache" in clear_error(excinfo, "no-such-weights")
    with pytest.raises(WeightsError) as excinfo:
        resolve_weights(saved / "model_index.json")
    clear_error(excinfo, "model_index.json")


def test_resolve_weights_unknown_repo_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WeightsError) as excinfo:
        resolve_weights("mofrr/not-cached")
    assert "download it first or pass a local folder" in clear_error(excinfo, "mofrr/not-cached")


def test_default_weights():
    for method in ("mofrr", "frrffusion"):
        try:
            folder = default_weights(method)
        except WeightsError as exc:
            assert str(exc) == f"no bundled weights for {method} yet; pass --weights PATH_OR_REPO_ID"
        else:
            assert folder.name == method and (folder / "model_index.json").is_file()
    with pytest.raises(WeightsError):
        default_weights("pix2pix")


# the SHA-256 manifest of the bundled weights


@pytest.fixture
def release(tmp_path):
    """A copy of the bundled weights folder (with its manifest), to damage."""
    return shutil.copytree(BUNDLED, tmp_path / "weights")


def test_the_committed_manifest_matches_the_bundled_weights():
    listed = read_manifest(BUNDLED / MANIFEST)
    assert set(listed) == {p.relative_to(BUNDLED).as_posix() for p in BUNDLED.rglob("*") if p.suffix in (".json", ".safetensors")}
    for method in ("mofrr", "frrffusion"):
        assert verify_manifest(default_weights(method)) == BUNDLED / MANIFEST
    assert verify_manifest(BUNDLED / "baseline") == verify_manifest(BUNDLED / "mofrr" / "router") == BUNDLED / MANIFEST


def test_changed_tensor_data_is_caught_by_the_manifest_alone(release):
    """One flipped bit in the tensor data passes every header check; only the manifest notices it."""
    path = release / "mofrr" / "merger" / WEIGHTS
    data = bytearray(path.read_bytes())
    data[-10] ^= 1
    path.write_bytes(bytes(data))
    read_header(path)  # still a valid safetensors file
    with pytest.raises(WeightsError) as excinfo:
        MoFRRPipeline.from_pretrained(release / "mofrr")
    assert "SHA-256 does not match" in clear_error(excinfo, "merger", WEIGHTS, MANIFEST)
    with pytest.raises(WeightsError):
        MoFRRPipeline.from_config_name("tiny").with_component("merger", release / "mofrr")
    FRRffusionPipeline.from_pretrained(release / "frrffusion")  # the untouched pipeline still loads


def test_missing_and_unlisted_files_are_refused(release):
    (release / "frrffusion" / "hfdg" / WEIGHTS).unlink()
    with pytest.raises(WeightsError) as excinfo:
        FRRffusionPipeline.from_pretrained(release / "frrffusion")
    assert "listed in" in clear_error(excinfo, "hfdg", WEIGHTS, "missing")
    shutil.copy(BUNDLED / "frrffusion" / "hfdg" / WEIGHTS, release / "frrffusion" / "hfdg" / WEIGHTS)
    (release / "frrffusion" / "hfdg" / "extra.safetensors").write_bytes(b"")
    with pytest.raises(WeightsError) as excinfo:
        FRRffusionPipeline.from_pretrained(release / "frrffusion")
    assert "not listed in" in clear_error(excinfo, "extra.safetensors")
    (release / "frrffusion" / "hfdg" / "extra.safetensors").unlink()
    FRRffusionPipeline.from_pretrained(release / "frrffusion")


def test_a_corrupt_manifest_and_regenerating_it(release):
    manifest = release / MANIFEST
    manifest.write_text(manifest.read_text().replace("  ", " ", 1))
    with pytest.raises(WeightsError) as excinfo:
        verify_manifest(release / "mofrr")
    assert "line 1" in clear_error(excinfo, MANIFEST)
    path = release / "frrffusion" / "fmar" / WEIGHTS
    save_file({k: v + 0 for k, v in load_file(path).items()}, path, metadata={"re-exported": "yes"})
    assert write_manifest(release) == manifest and verify_manifest(release / "frrffusion") == manifest.resolve()
    FRRffusionPipeline.from_pretrained(release / "frrffusion")


def test_bundled_weights_without_their_manifest_are_refused(release, monkeypatch):
    import mofrr_core.weights

    (release / MANIFEST).unlink()
    monkeypatch.setattr(mofrr_core.weights, "BUNDLED", release)
    with pytest.raises(WeightsError) as excinfo:
        default_weights("mofrr")
    assert "cannot be verified" in clear_error(excinfo, MANIFEST)


def test_loading_never_unpickles(monkeypatch, tmp_path):
    """Every weights path (both bundled pipelines, a component swap, the baseline) runs with pickle and torch.load
    made to fail."""
    import pickle

    from mofrr_core.evaluation import RegressionBaseline
    from mofrr_core.weights import load_model

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for module, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(module, name, refuse)
    pipe = MoFRRPipeline.from_pretrained(default_weights("mofrr"))
    pipe.with_component("router", default_weights("mofrr"))
    FRRffusionPipeline.from_pretrained(default_weights("frrffusion"))
    load_model(BUNDLED / "baseline", RegressionBaseline)


# header fuzzing, structured: valid JSON with hostile values


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=8),
    st.lists(st.integers(-(2**40), 2**40), max_size=4), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_header_values_give_weights_errors_only(saved, data):
    """Any entry of a real header replaced by a hostile value (wrong types, negative or huge numbers, unknown
    dtypes, overlapping offsets), or an entry added or removed: the load fails with a WeightsError or loads the
    same tensors, never anything else."""
    original = (saved / "hfdg" / WEIGHTS).read_bytes()
    size = int.from_bytes(original[:8], "little")
    header, body = json.loads(original[8 : 8 + size]), original[8 + size :]
    key = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    action = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "entry", "drop", "add", "metadata", "length"]))
    if action in ("dtype", "shape", "data_offsets"):
        header[key][action] = data.draw(st.one_of(HOSTILE, st.sampled_from(["F16", "BF16", "I64", "F8_E4M3", "C64"])))
    elif action == "entry":
        header[key] = data.draw(HOSTILE)
    elif action == "drop":
        del header[key]
    elif action == "add":
        header[data.draw(st.text(max_size=6))] = dict(header[key])
    elif action == "metadata":
        header["__metadata__"] = data.draw(HOSTILE)
    raw = json.dumps(header).encode()
    length = data.draw(st.integers(0, 2**64 - 1)) if action == "length" else len(raw)
    with tempfile.TemporaryDirectory() as tmp:
        component = shutil.copytree(saved / "hfdg", Path(tmp) / "hfdg")
        (component / WEIGHTS).write_bytes(length.to_bytes(8, "little") + raw + body)
        try:
            model = load_component(check_component(component, HFDG), HFDG)
        except WeightsError as exc:
            assert "\n" not in str(exc) and WEIGHTS in str(exc), str(exc)
            return
    reference = load_file(saved / "hfdg" / WEIGHTS)
    assert all(torch.equal(model.state_dict()[k], reference[k]) for k in reference)
