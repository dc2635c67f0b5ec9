"""The Gradio app end to end: served on 127.0.0.1 by `python -m gradio_app.app` with tiny untrained weights,
used through gradio_client (the documented `/restore` and `/retouch` endpoints) and in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import bad_inputs
from conftest import EXAMPLES, ROOT
from mofrr_core.errors import WeightsError
from mofrr_core.types import RETOUCH_TYPES

RETOUCHED = sorted((EXAMPLES / "retouched").glob("*.png"))
CLEAN = sorted(EXAMPLES.glob("*.jpg"))
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = ROOT / "docs" / "gradio_app.png"
START_TIMEOUT = 240
UPLOAD_LIMIT_MB = 2
TIMEOUT_S = 8
# sized for CI; raise them to load the server harder
LOAD_CLIENTS, LOAD_ROUNDS = int(os.environ.get("MOFRR_LOAD_CLIENTS", 20)), int(os.environ.get("MOFRR_LOAD_ROUNDS", 16))
# the first rounds warm up (first uploads, first crop sizes, caches): measured, the server settles within 3;
# after that its memory moves in steps of up to 20 MB either way; one such step tilts the slope over the
# remaining 14 readings by under 3 MB a round
LOAD_WARMUP_ROUNDS = 3
LOAD_REQUEST_BOUND_S = 180  # a bound for hangs only: a request under load normally answers within seconds
# a leak shows as a steady rise per round: 10 MB a round of 20 is 0.5 MB a request, less than one leaked
# 256 x 256 float crop (0.79 MB; keeping every request's result measured +28 MB a round)
LOAD_MEMORY_GROWTH_MB_PER_ROUND = 10
FAST = dict(steps=2, seed=0, aligned=False, gating="hard", threshold=0.5, experts=[])


def restore_args(photo, method="mofrr", **changes) -> list:
    """Positional arguments of `/restore` in its order: photo, method, steps, seed, aligned, gating, threshold, experts."""
    return [photo, method, *{**FAST, **changes}.values()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> dict[str, Path]:
    from mofrr_core.pipelines import FRRffusionPipeline, MoFRRPipeline

    root = tmp_path_factory.mktemp("weights")
    for method, cls in (("mofrr", MoFRRPipeline), ("frrffusion", FRRffusionPipeline)):
        cls.from_config_name("tiny", seed=0).save_pretrained(root / method)
    return {"mofrr": root / "mofrr", "frrffusion": root / "frrffusion"}


@pytest.fixture(scope="module")
def app(tiny_weights, tmp_path_factory):
    """The app, started as its users start it, on a free local port, with small limits to test them (uploads up to
    UPLOAD_LIMIT_MB, TIMEOUT_S of work per request); yields (url, server process); its log is shown if it fails to start."""
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    command = [sys.executable, "-m", "gradio_app.app", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
               "--weights-mofrr", str(tiny_weights["mofrr"]), "--weights-frrffusion", str(tiny_weights["frrffusion"]),
               "--max-upload-mb", str(UPLOAD_LIMIT_MB), "--timeout", str(TIMEOUT_S)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "NO_PROXY": "127.0.0.1,localhost"}
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def app_url(app) -> str:
    return app[0]


@pytest.fixture(scope="module")
def client(app_url) -> Client:
    return Client(app_url, verbose=False)


def image_size(path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def test_restore_endpoint_returns_a_same_size_photo_and_a_json_report(client, tiny_weights):
    source = RETOUCHED[0]
    comparison, heatmap, routing, degrees, gallery, faces, downloads, report = client.predict(
        *restore_args(handle_file(source)), api_name="/restore")
    png, report_file = downloads
    assert Path(png).suffix == ".png" and image_size(png) == image_size(source)
    assert [image_size(p) for p in comparison] == [image_size(source)] * 2 and image_size(heatmap) == image_size(source)
    saved = json.loads(Path(report_file).read_text())
    assert saved == {**report, "output": Path(png).name}
    assert saved["method"] == "mofrr" and saved["steps"] == 2 and saved["weights"] == str(tiny_weights["mofrr"])
    assert set(saved["routing"]) == set(RETOUCH_TYPES) and len(saved["faces"]) == len(faces["data"]) == 1
    assert {c["label"]: c["confidence"] for c in routing["confidences"]} == pytest.approx(saved["routing"])
    assert [row[0] for row in degrees["data"]] == list(RETOUCH_TYPES)
    captions = [item["caption"] for item in gallery]
    assert captions[0] == "face 1: input" and captions[-1] == "face 1: restored" and "face 1: shared expert" in captions
    assert {f"face 1: {t} expert" for t in saved["active"]} <= set(captions)


def test_frrffusion_on_an_aligned_crop_and_an_expert_override(client, tmp_path):
    crop = tmp_path / "crop.png"
    Image.open(RETOUCHED[1]).convert("RGB").resize((160, 200)).save(crop)
    *_, faces, downloads, report = client.predict(*restore_args(handle_file(crop), "frrffusion", aligned=True), api_name="/restore")
    assert image_size(downloads[0]) == (160, 200)
    assert report["method"] == "frrffusion" and report["aligned"] is True and report["routing"] == {}
    assert faces["data"][0][1] == "aligned input"
    *_, report = client.predict(*restore_args(handle_file(crop), aligned=True, experts=["whitening"]), api_name="/restore")
    assert report["active"] == ["whitening"] and report["experts"] == ["whitening"]


def test_retouch_endpoint_simulates_beautify_filters(client):
    source = CLEAN[0]
    retouched, record = client.predict(handle_file(source), 60, 0, 50, 0, 3, api_name="/retouch")
    assert image_size(retouched) == image_size(source)
    assert record["seed"] == 3 and len(record["faces"]) == 1
    assert [op["op"] for op in record["faces"][0]["ops"]] == ["whitening", "face_slimming"]
    before = np.asarray(Image.open(source).convert("RGB"), dtype=np.float32)
    assert np.abs(np.asarray(Image.open(retouched).convert("RGB"), dtype=np.float32) - before).mean() > 0.5


def _write_text(path: Path) -> Path:
    path.write_text("these are notes, not a photo")
    return path


BAD_RESTORES = {  # besides the bad-input corpus (test_corpus_through_the_gradio_api)
    "text file": (lambda d: _write_text(d / "notes.txt"), {}, "notes.txt: not an image file"),
    "no photo": (lambda d: None, {}, "no photo given"),
    "steps 0": (lambda d: RETOUCHED[0], {"steps": 0}, "steps must be a whole number from 1 to"),
    "negative seed": (lambda d: RETOUCHED[0], {"seed": -1}, "seed must be a whole number >= 0"),
    "threshold 2": (lambda d: RETOUCHED[0], {"threshold": 2}, r"threshold must be a number in \[0, 1\]"),
    "unknown expert": (lambda d: RETOUCHED[0], {"experts": ["nose_job"]}, "unknown retouch type 'nose_job'"),
    "unknown gating": (lambda d: RETOUCHED[0], {"gating": "medium"}, "gating must be one of hard, soft"),
    "unknown method": (lambda d: RETOUCHED[0], {"method": "magic"}, "unknown method 'magic'"),
}


@pytest.mark.parametrize("case", list(BAD_RESTORES))
def test_bad_restore_inputs_get_one_clear_error(client, tmp_path, case):
    make, changes, message = BAD_RESTORES[case]
    path = make(tmp_path)
    changes = dict(changes)
    method = changes.pop("method", "mofrr")
    with pytest.raises(AppError, match=message):
        client.predict(*restore_args(None if path is None else handle_file(path), method, **changes), api_name="/restore")


def test_corpus_through_the_gradio_api(client, tmp_path, reliability):
    """Every file of the bad-input corpus sent to `/restore` and `/retouch`: a result or one clear error line."""
    tried = 0
    for filename, case in bad_inputs.write_files(tmp_path).items():
        path = tmp_path / filename
        for endpoint, args in (("/restore", restore_args(handle_file(path), steps=1)), ("/retouch", (handle_file(path), 60, 0, 0, 0, 0))):
            try:
                outputs = client.predict(*args, api_name=endpoint)
            except AppError as exc:
                assert not case.restores, (endpoint, case.name, str(exc))
                bad_inputs.check_message(str(exc), case, filename)
            else:
                assert case.restores, (endpoint, case.name)
                image, report = (outputs[-2][0], outputs[-1]) if endpoint == "/restore" else outputs
                assert image_size(image) == bad_inputs.decoded_size(path, case) and len(report["faces"]) == case.faces, (endpoint, case.name)
            tried += 1
    reliability["Gradio API (/restore, /retouch): inputs tried, failures"] = f"{tried}, 0"


@pytest.mark.parametrize(
    "strengths, message", [((0, 0, 0, 0), "every slider is at 0"), ((500, 0, 0, 0), r"strength of whitening must be in \[0, 100\]")]
)
def test_bad_retouch_inputs_get_one_clear_error(client, strengths, message):
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(CLEAN[0]), *strengths, 0, api_name="/retouch")


# limits and load


def server_rss_mb(pid: int) -> float:
    """Resident memory of the server process (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc")


def test_twenty_clients_at_once(app, tmp_path, reliability):
    """LOAD_CLIENTS clients send requests at the same moment, LOAD_ROUNDS times: aligned crops, whole photos and a
    non-image; every request gets its right answer, and after the warm-up the server's memory does not grow."""
    url, server = app
    crop, photo, notes = tmp_path / "crop.png", tmp_path / "photo.jpg", tmp_path / "notes.png"
    Image.open(RETOUCHED[0]).convert("RGB").crop((150, 250, 550, 650)).resize((96, 96)).save(crop)
    bad_inputs._portrait(1, 200).save(photo, quality=90)
    _write_text(notes)
    kinds = [("crop", crop, True), ("crop", crop, True), ("photo", photo, False), ("bad", notes, False)]

    def request(client: Client, kind) -> str | None:
        """None when the answer is right, else what was wrong."""
        name, path, aligned = kind
        try:
            job = client.submit(*restore_args(handle_file(path), steps=1, aligned=aligned), api_name="/restore")
            outputs = job.result(timeout=LOAD_REQUEST_BOUND_S)
        except AppError as exc:
            return None if name == "bad" and "notes.png: not an image file" in str(exc) else f"{name}: {exc}"
        except Exception as exc:  # a hang, a dropped connection, a server error: all count as errors
            return f"{name}: {type(exc).__name__}: {exc}"
        report, png = outputs[-1], outputs[-2][0]
        right = name != "bad" and image_size(png) == image_size(path) and len(report["faces"]) == 1 and report["aligned"] == aligned
        return None if right else f"{name}: wrong answer {report}"

    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        clients = list(pool.map(lambda _: Client(url, verbose=False), range(LOAD_CLIENTS)))
        problems, memory = [], []
        for _ in range(LOAD_ROUNDS):
            problems += [p for p in pool.map(request, clients, [kinds[i % len(kinds)] for i in range(LOAD_CLIENTS)]) if p]
            memory.append(server_rss_mb(server.pid))
    requests = LOAD_CLIENTS * LOAD_ROUNDS
    growth = np.polyfit(np.arange(LOAD_ROUNDS - LOAD_WARMUP_ROUNDS + 1), memory[LOAD_WARMUP_ROUNDS - 1:], 1)[0]
    reliability["Gradio under load: clients x rounds = requests, errors"] = f"{LOAD_CLIENTS} x {LOAD_ROUNDS} = {requests}, {len(problems)}"
    reliability["Gradio under load: server memory per round (MB); growth a round after warm-up (least squares)"] = (
        f"{', '.join(f'{m:.0f}' for m in memory)}; {growth:+.1f} MB")
    assert not problems, problems[:5]
    assert growth < LOAD_MEMORY_GROWTH_MB_PER_ROUND, memory


def test_uploads_over_the_limit_are_refused(app, client, tmp_path):
    """The client is told the limit before sending; a raw upload over it is cut off by the server (HTTP 413)."""
    url, _ = app
    big = tmp_path / "big.png"
    big.write_bytes(np.random.default_rng(0).bytes(UPLOAD_LIMIT_MB * 1_000_000 + 1000))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(*restore_args(handle_file(big)), api_name="/restore")
    response = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", big.read_bytes(), "image/png")}, timeout=60)
    assert response.status_code == 413 and "maximum allowed size" in response.text
    *_, report = client.predict(*restore_args(handle_file(RETOUCHED[0])), api_name="/restore")
    assert len(report["faces"]) == 1


def test_a_request_over_the_time_limit_is_stopped_and_the_next_runs(client, tmp_path):
    """A restoration that would take far longer than TIMEOUT_S (12 faces, 1000 steps) stops with a clear error."""
    crowd = tmp_path / "crowd.jpg"
    crowd.write_bytes(dict(bad_inputs.FILES)["crowd.jpg"].make())
    job = client.submit(*restore_args(handle_file(crowd), "frrffusion", steps=1000), api_name="/restore")
    with pytest.raises(AppError, match=f"stopped after the {TIMEOUT_S} s limit per request; use fewer sampling steps"):
        job.result(timeout=LOAD_REQUEST_BOUND_S)
    *_, report = client.predict(*restore_args(handle_file(crowd), "frrffusion"), api_name="/restore")
    assert len(report["faces"]) == 12


def test_unusable_weights_are_named_in_one_line(tmp_path):
    from gradio_app.loader import Pipelines

    pipelines = Pipelines({"mofrr": str(tmp_path / "missing"), "frrffusion": str(tmp_path)}, "cpu")
    with pytest.raises(WeightsError, match="missing: not found locally or in the Hugging Face cache"):
        pipelines.get("mofrr")
    with pytest.raises(WeightsError, match="model_index.json: missing"):
        pipelines.get("frrffusion")


def test_flags_win_over_environment_variables(tmp_path):
    from gradio_app.settings import Settings

    env = {"MOFRR_WEIGHTS_MOFRR": "env/mofrr", "MOFRR_WEIGHTS_FRRFFUSION": "env/frr", "MOFRR_DEVICE": "cpu", "MOFRR_EXAMPLES": str(tmp_path)}
    settings = Settings.load({"mofrr": "flag/mofrr"}, None, None, env=env)
    assert settings.weights == {"mofrr": "flag/mofrr", "frrffusion": "env/frr"} and settings.device == "cpu"
    assert settings.examples == tmp_path and settings.example_photos(retouched=True) == []
    checkout = Settings.load(env={"MOFRR_DEVICE": "cpu"})
    assert checkout.example_photos(retouched=True) == [str(p) for p in RETOUCHED] and checkout.example_photos(retouched=False) == [str(p) for p in CLEAN]
    assert (checkout.max_upload_mb, checkout.timeout_s) == (50, 120)
    limits = {"MOFRR_DEVICE": "cpu", "MOFRR_MAX_UPLOAD_MB": "3", "MOFRR_REQUEST_TIMEOUT": "9"}
    assert (Settings.load(env=limits).max_upload_bytes, Settings.load(env=limits).timeout_s) == (3_000_000, 9)
    assert Settings.load(max_upload_mb=1, timeout_s=2, env=limits).timeout_s == 2
    with pytest.raises(SystemExit, match="MOFRR_REQUEST_TIMEOUT: expected a positive number, got '-1'"):
        Settings.load(env={**limits, "MOFRR_REQUEST_TIMEOUT": "-1"})


def _browser_missing() -> str | None:
    """Why the browser test cannot run (None when it can); installs chromium and Playwright first if needed."""

    def problem() -> str | None:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            return "playwright is not installed"
        return None if os.access(CHROMIUM, os.X_OK) else f"no chromium at {CHROMIUM}"

    if problem() and shutil.which("bash"):
        try:
            subprocess.run(["bash", str(ROOT / "scripts" / "setup_browser.sh")], cwd=ROOT, capture_output=True, timeout=1200)
        except subprocess.TimeoutExpired:
            pass  # reported below as what is still missing
    reason = problem()
    return reason and f"{reason} and scripts/setup_browser.sh could not install it (it needs apt-get and pip)"


def test_page_in_headless_chromium(app_url, tmp_path):
    """Upload, restore, see the result (and screenshot it); simulate a retouch and send it to restore; switch method."""
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(app_url) else route.abort())
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator("#photo input[type=file]").set_input_files(str(RETOUCHED[0]))
            expect(page.locator("#photo img").first).to_be_visible(timeout=30_000)
            page.locator("#restore-button").click()
            before_after = page.locator("#comparison img")
            expect(before_after).to_have_count(2, timeout=120_000)
            expect(page.locator(f'#downloads a[href$="/{RETOUCHED[0].stem}_restored.png"]')).to_have_count(1, timeout=30_000)
            # the element appears before its file has loaded: wait for the decoded image, then check its size
            loaded = "img => img.complete && img.naturalWidth > 0 ? img.naturalWidth : new Promise(done => img.addEventListener('load', () => done(img.naturalWidth), {once: true}))"
            assert before_after.first.evaluate(loaded) == image_size(RETOUCHED[0])[0]
            boxes = [before_after.nth(i).evaluate("img => JSON.stringify(img.getBoundingClientRect())") for i in range(2)]
            assert boxes[0] == boxes[1], "before and after must be drawn on top of each other"
            page.wait_for_timeout(500)
            shot = tmp_path / "gradio_app.png"
            page.screenshot(path=str(shot), full_page=True)

            uploaded = page.locator("#photo img").first.get_attribute("src")
            page.get_by_role("tab", name="Simulate retouch").click()
            page.locator("#clean-photo input[type=file]").set_input_files(str(CLEAN[0]))
            expect(page.locator("#clean-photo img").first).to_be_visible(timeout=30_000)
            page.locator("#retouch-button").click()
            expect(page.locator("#retouched img").first).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Restore this photo").click()
            expect(page.locator("#restore-button")).to_be_visible(timeout=30_000)
            expect(page.locator("#photo img").first).not_to_have_attribute("src", uploaded, timeout=30_000)

            page.get_by_label("FRRffusion").check()
            expect(page.get_by_text("override: run exactly these experts")).to_be_hidden(timeout=30_000)
        finally:
            browser.close()
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape[1] == 1400 and pixels.shape[0] > 1000 and pixels.std() > 10
    if not SCREENSHOT.exists() or os.environ.get("MOFRR_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)


def test_space_folder_is_a_gradio_6_space(tmp_path):
    import gradio
    import yaml

    card = (ROOT / "gradio_app" / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["sdk"] == "gradio" and (ROOT / "gradio_app" / meta["app_file"]).is_file()
    assert meta["sdk_version"].split(".")[0] == gradio.__version__.split(".")[0] == "6"
    assert any(line.startswith("mofrr @ ") for line in (ROOT / "gradio_app" / "requirements.txt").read_text().splitlines())
    started = subprocess.run([sys.executable, str(ROOT / "gradio_app" / "app.py"), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert started.returncode == 0 and "--weights-mofrr" in started.stdout, started.stderr


def test_change_heatmap_marks_where_and_how_much_changed():
    from mofrr_core.heatmap import MIN_SCALE, change_heatmap

    before = np.full((40, 60, 3), 0.5, np.float32)
    after = before.copy()
    after[10, 20] = [0.8, 0.5, 0.5]
    heat, scale = change_heatmap(before, after)
    assert heat.shape == (40, 60, 3) and heat.dtype == np.float32 and scale == pytest.approx(0.1)
    assert heat[10, 20].sum() > 2 and heat[0, 0].max() < 0.02  # top colour where it changed, black elsewhere
    same, floor = change_heatmap((before * 255).astype(np.uint8), (before * 255).astype(np.uint8), underlay=0.5)
    assert floor == MIN_SCALE and np.allclose(same, 0.25, atol=0.01)
    with pytest.raises(ValueError, match="differ in size"):
        change_heatmap(before, after[:20])
