"""Start the mofrr Gradio app: `mofrr-app`, `python -m gradio_app.app`, or `python app.py` on a Hugging Face Space.

On a Space the `mofrr` package (this app and mofrr_core) comes from requirements.txt, and the
weights from the Space variables MOFRR_WEIGHTS_MOFRR / MOFRR_WEIGHTS_FRRFFUSION (Hub repo ids).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: a checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradio_app.malloc import limit_arenas  # noqa: E402
from gradio_app.settings import (  # noqa: E402
    CONCURRENCY,
    DEVICE_ENV,
    EXAMPLES_ENV,
    MALLOC_ARENAS,
    MAX_QUEUE,
    MAX_UPLOAD_ENV,
    TIMEOUT_ENV,
    WEIGHTS_ENV,
    Settings,
)
from gradio_app.ui import THEME, build_demo  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mofrr-app", description="Web app for face retouching restoration (MoFRR, FRRffusion).")
    for method, env in WEIGHTS_ENV.items():
        parser.add_argument(f"--weights-{method}", dest=method, default=None, metavar="PATH_OR_REPO_ID",
                            help=f"{method} pipeline folder or Hugging Face repo id (default: ${env}, else the bundled weights)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help=f"default: ${DEVICE_ENV}, else cuda when available")
    parser.add_argument("--examples", default=None, help=f"folder of example photos with a retouched/ sub-folder (default: ${EXAMPLES_ENV}, else examples/)")
    parser.add_argument("--host", default=None, help="address to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT, else the first free one from 7860)")
    parser.add_argument("--max-upload-mb", type=float, default=None, help=f"largest upload accepted (default: ${MAX_UPLOAD_ENV}, else 50)")
    parser.add_argument("--timeout", type=float, default=None, help=f"seconds of work allowed per request (default: ${TIMEOUT_ENV}, else 120)")
    parser.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limit_arenas(MALLOC_ARENAS)
    settings = Settings.load({method: getattr(args, method) for method in WEIGHTS_ENV}, args.device, args.examples, args.max_upload_mb, args.timeout)
    demo = build_demo(settings)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_QUEUE)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, theme=THEME, max_file_size=settings.max_upload_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
