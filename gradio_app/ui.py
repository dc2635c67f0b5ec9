"""The page: a "restore" tab (photo and settings in, every view of the result out) and a "simulate retouch" tab."""

from __future__ import annotations

import tempfile

import gradio as gr

from mofrr_core.types import RETOUCH_TYPES

from .loader import Pipelines
from .malloc import release_freed
from .outputs import Outputs
from .restore import FACE_COLUMNS, Restorer
from .settings import CACHE_AGE_S, CACHE_SWEEP_S, Settings
from .simulate import Simulator

TITLE = "mofrr: face retouching restoration"
INTRO = f"""# {TITLE}
Undo beauty-filter retouching (skin whitening, smoothing, face slimming, eye enlargement) on face photos and see
what was done. **MoFRR** detects the retouch types and runs one diffusion expert per type; **FRRffusion** restores
coarse structure, then fine detail. Whole photos: every face is restored and pasted back. No clean photo at hand?
Make one retouched in the *simulate retouch* tab."""
SOURCES = ["upload", "clipboard", "webcam"]
DEFAULT_STRENGTHS = {"whitening": 50, "smoothing": 60, "face_slimming": 40, "eye_enlargement": 40}
IMAGE_HEIGHT, SMALL_HEIGHT = 440, 300
FACE_JOBS = "face-jobs"  # restore and retouch share one queue slot (see settings.CONCURRENCY)
# system fonts only: the page loads nothing from outside the server
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def _label(name: str) -> str:
    return name.replace("_", " ")


def build_demo(settings: Settings) -> gr.Blocks:
    """The app's Blocks, wired to the pipelines named in `settings` (loaded on first use)."""
    outputs = Outputs(tempfile.mkdtemp(prefix="mofrr-app-"))
    restorer = release_freed(Restorer(Pipelines(settings.weights, settings.device), outputs, settings.timeout_s))
    simulate = release_freed(Simulator(outputs, settings.timeout_s))
    retouched_examples, clean_examples = settings.example_photos(retouched=True), settings.example_photos(retouched=False)
    with gr.Blocks(title=TITLE, delete_cache=(CACHE_SWEEP_S, CACHE_AGE_S)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs() as tabs:
            with gr.Tab("Restore", id="restore"):
                with gr.Row():
                    with gr.Column(scale=2):
                        photo = gr.Image(label="retouched photo", type="filepath", sources=SOURCES, height=IMAGE_HEIGHT, elem_id="photo")
                        method = gr.Radio([("MoFRR", "mofrr"), ("FRRffusion", "frrffusion")], value="mofrr", label="method")
                        aligned = gr.Checkbox(False, label="the photo is an aligned face crop (skip face detection)")
                        with gr.Row():
                            steps = gr.Slider(1, 50, value=10, step=1, label="sampling steps")
                            seed = gr.Number(0, precision=0, minimum=0, label="seed")
                        with gr.Group(visible=True) as routing_controls:
                            gating = gr.Radio(["hard", "soft"], value="hard", label="gating",
                                              info="hard: run the experts whose probability reaches the threshold; soft: all, weighted")
                            threshold = gr.Slider(0, 1, value=0.5, step=0.05, label="threshold (hard gating)")
                            experts = gr.CheckboxGroup([(_label(t), t) for t in RETOUCH_TYPES], label="override: run exactly these experts",
                                                       info="leave empty to let the router decide")
                        run = gr.Button("Restore", variant="primary", elem_id="restore-button")
                        if retouched_examples:
                            gr.Examples([[p] for p in retouched_examples], inputs=[photo], label="retouched examples")
                    with gr.Column(scale=3):
                        comparison = gr.ImageSlider(label="before / after", type="filepath", format="png", max_height=IMAGE_HEIGHT,
                                                    elem_id="comparison")
                        with gr.Row():
                            routing = gr.Label(label="router: probability per retouch type", num_top_classes=len(RETOUCH_TYPES))
                            degrees = gr.BarPlot(x="retouch type", y="degree", y_lim=[0, 1], sort=list(RETOUCH_TYPES), x_label_angle=-20,
                                                 label="estimated degree (largest face)")
                        with gr.Row():
                            heatmap = gr.Image(label="what changed (heat map)", format="png", interactive=False, height=SMALL_HEIGHT)
                            gallery = gr.Gallery(label="per-expert outputs", format="png", columns=3, height=SMALL_HEIGHT)
                        faces = gr.Dataframe(headers=FACE_COLUMNS, label="faces", interactive=False, wrap=True)
                        downloads = gr.File(label="restored PNG and JSON report", file_count="multiple", interactive=False, elem_id="downloads")
                        with gr.Accordion("report (JSON)", open=False):
                            report = gr.JSON(show_label=False)
            with gr.Tab("Simulate retouch", id="simulate"):
                with gr.Row():
                    with gr.Column():
                        clean = gr.Image(label="clean photo", type="filepath", sources=SOURCES, height=IMAGE_HEIGHT, elem_id="clean-photo")
                        strengths = [gr.Slider(0, 100, value=DEFAULT_STRENGTHS[t], step=1, label=_label(t)) for t in RETOUCH_TYPES]
                        retouch_seed = gr.Number(0, precision=0, minimum=0, label="seed of the hidden filter parameters")
                        retouch_button = gr.Button("Retouch", variant="primary", elem_id="retouch-button")
                        if clean_examples:
                            gr.Examples([[p] for p in clean_examples], inputs=[clean], label="clean examples")
                    with gr.Column():
                        retouched = gr.Image(label="retouched", type="filepath", format="png", interactive=False, height=IMAGE_HEIGHT, elem_id="retouched")
                        send = gr.Button("Restore this photo")
                        record = gr.JSON(label="what was done", open=False)

        run.click(restorer, [photo, method, steps, seed, aligned, gating, threshold, experts],
                  [comparison, heatmap, routing, degrees, gallery, faces, downloads, report], api_name="restore", preprocess=False,
                  concurrency_id=FACE_JOBS)
        method.change(lambda m: gr.Group(visible=m == "mofrr"), method, routing_controls, api_visibility="private", queue=False)
        retouch_button.click(simulate, [clean, *strengths, retouch_seed], [retouched, record], api_name="retouch", preprocess=False,
                             concurrency_id=FACE_JOBS)
        send.click(lambda image: (image, gr.Tabs(selected="restore")), retouched, [photo, tabs], api_visibility="private", queue=False)
    return demo
