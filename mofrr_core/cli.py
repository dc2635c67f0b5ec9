"""The `mofrr` command line: restore retouched photos, retouch photos, synthesize paired data, train, evaluate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .errors import MofrrError
from .imageio import load_photo, save_photo
from .training.recipe import STAGES as TRAIN_STAGES
from .types import check_type

DEFAULT_EVAL_FACES = Path("../shared/data/faces/val")


def parse_ops(text: str) -> dict[str, float]:
    """'whitening=60,eye_enlargement=40' -> {'whitening': 60.0, 'eye_enlargement': 40.0}."""
    ops = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            ops[check_type(name.strip())] = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad op {item!r}: {exc}; write NAME=STRENGTH, e.g. whitening=60") from None
    return ops


def parse_types(text: str) -> list[str]:
    """'whitening,smoothing' -> ['whitening', 'smoothing']."""
    try:
        return [check_type(name.strip()) for name in text.split(",") if name.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def step_progress(bar: tqdm, done: int, total: int) -> None:
    """Move a tqdm bar to `done` of `total` denoising steps."""
    if bar.total != total:
        bar.reset(total)
    bar.n = done
    bar.refresh()


def output_path(source: Path, out: Path, many: bool) -> Path:
    """OUT itself when it names one image file, else OUT/<stem>.png."""
    if not many and out.suffix.lower() in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"):
        return out
    return out / f"{source.stem}.png"


def run_each(inputs: list[Path], work: Callable[[Path], str]) -> int:
    """Run `work` on every input; a user error on one prints one line and the rest still run."""
    failures = 0
    for path in tqdm(inputs, unit="photo", disable=len(inputs) < 2):
        try:
            tqdm.write(work(path))
        except MofrrError as exc:
            failures += 1
            tqdm.write(f"error: {exc}", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def cmd_retouch(args: argparse.Namespace) -> int:
    from .face_pipeline import edit_faces
    from .retouch import retouch

    many = len(args.inputs) > 1

    def work(path: Path) -> str:
        photo = load_photo(path)
        records = []

        def edit(face, index):
            image, record = retouch(face.crop, face.landmarks, args.ops, np.random.default_rng([args.seed, index]))
            records.append({"box": list(face.face.box), "alignment": face.alignment.to_dict(), **record.to_dict()})
            return image

        result, _ = edit_faces(photo, edit, size=args.size, name=path.name)
        target = output_path(path, args.output, many)
        save_photo(result, target)
        report = {"input": str(path), "output": str(target), "seed": args.seed, "requested": args.ops, "faces": records}
        target.with_suffix(".json").write_text(json.dumps(report, indent=2))
        return f"{path.name}: {len(records)} face(s) retouched -> {target}"

    return run_each(args.inputs, work)


def _load_pipeline(args: argparse.Namespace):
    import torch

    from .pipelines import FRRffusionPipeline, MoFRRPipeline
    from .weights import default_weights, resolve_weights

    if args.device == "cuda" and not torch.cuda.is_available():
        raise MofrrError("--device cuda: no CUDA GPU is available here; use --device cpu")
    source = args.weights or default_weights(args.method)
    cls = MoFRRPipeline if args.method == "mofrr" else FRRffusionPipeline
    pipe = cls.from_pretrained(resolve_weights(source))
    dtype = torch.bfloat16 if args.device == "cuda" and args.bf16 else torch.float32
    return pipe.to(args.device, dtype), str(source)


def cmd_restore(args: argparse.Namespace) -> int:
    pipe, weights = _load_pipeline(args)
    args.output.mkdir(parents=True, exist_ok=True)
    options = dict(steps=args.steps, seed=args.seed, aligned=args.aligned, size=args.size, gating=args.gating, threshold=args.threshold, experts=args.experts)
    if args.method == "frrffusion":
        options = {k: options[k] for k in ("steps", "seed", "aligned", "size")}

    def work(path: Path) -> str:
        with tqdm(desc=path.name, unit="step", leave=False) as bar:
            result = pipe(load_photo(path), callback=lambda done, total: step_progress(bar, done, total), name=path.name, **options)
        target = args.output / f"{path.stem}.png"
        save_photo(result.image, target)
        report = {"input": str(path), "output": str(target), "weights": weights, **result.to_dict()}
        target.with_suffix(".json").write_text(json.dumps(report, indent=2))
        active = ", ".join(report.get("active") or []) or "none"
        return f"{path.name}: {len(result.faces)} face(s) restored ({args.method}; experts: {active}) -> {target}"

    return run_each(args.inputs, work)


def cmd_synthesize(args: argparse.Namespace) -> int:
    from .data import synthesize

    if not args.faces.is_dir():
        print(f"error: {args.faces}: no such folder; point --faces at a folder of face photos", file=sys.stderr)
        return 2
    report = synthesize(
        args.faces, args.out, size=args.size, singles=args.singles, mixed=args.mixed, val_fraction=args.val_fraction, seed=args.seed, limit=args.limit
    )
    print(report.summary())
    for source, reason in report.skipped.items():
        print(f"skipped {source}: {reason}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training import Trainer, export_weights, load_recipe, make_stages

    recipe = load_recipe(args.config, faces=args.faces, pairs=args.pairs, out=args.out)
    if args.stage == "export":
        for folder in export_weights(recipe, args.weights_out):
            print(f"wrote {folder}")
        return 0
    names = recipe.order if args.stage == "all" else [args.stage]
    for name in names:
        for stage in make_stages(recipe, name, args.type):
            result = Trainer(stage, recipe, progress=not args.quiet, max_steps=args.max_steps).run()
            print(f"{stage.key}: step {result.step}, best score {result.best_score:.4f}, weights in {result.folder / 'best'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    if not args.faces.is_dir():
        raise MofrrError(f"{args.faces}: no such folder; pass --faces with a folder of face photos (e.g. examples)")
    weights = {m: str(args.weights / m) for m in args.method} if args.weights else None
    report = evaluate(args.faces, args.out, methods=args.method, steps=args.steps, n=args.n, seed=args.seed, weights=weights, device=args.device)
    print(report.to_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mofrr", description="Face retouching restoration (MoFRR, FRRffusion) and a beautify-filter simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("restore", help="restore retouched photos (every face, pasted back) or aligned face crops")
    p.add_argument("inputs", nargs="+", type=Path, help="photos or, with --aligned, aligned face crops")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder: <stem>.png and <stem>.json per input")
    p.add_argument("--method", choices=["mofrr", "frrffusion"], default="mofrr")
    p.add_argument("--steps", type=int, default=10, help="DDIM sampling steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--aligned", action="store_true", help="inputs are aligned face crops: no detection, same-size output")
    p.add_argument("--gating", choices=["hard", "soft"], default="hard", help="MoFRR: run experts over the threshold, or all weighted by probability")
    p.add_argument("--threshold", type=float, default=0.5, help="MoFRR hard-gating threshold on the router's probability")
    p.add_argument("--experts", type=parse_types, default=None, help="MoFRR: run exactly these experts (comma-separated), overriding the router")
    p.add_argument("--weights", default=None, help="pipeline folder or Hugging Face repo id (default: the bundled weights)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--bf16", action="store_true", help="bfloat16 on CUDA")
    p.add_argument("--size", type=int, default=None, help="aligned crop side for whole photos")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("train", help="train a stage (or `all` of a recipe, then `export` the weights)")
    p.add_argument("stage", choices=["all", "export", *TRAIN_STAGES], help="stage to train; per-type stages train every type unless --type")
    p.add_argument("--config", type=Path, default=Path("train/configs/lite.yaml"), help="recipe YAML")
    p.add_argument("--type", type=check_type, default=None, help="retouch type of a per-type stage (degree, expert)")
    p.add_argument("--faces", nargs="+", default=None, help="override the recipe's face photo folders")
    p.add_argument("--pairs", default=None, help="train on a folder of fixed pairs with labels.jsonl (as `mofrr synthesize` writes) instead")
    p.add_argument("--out", default=None, help="override the recipe's run folder")
    p.add_argument("--weights-out", type=Path, default=Path("weights"), help="export: where the release folders go")
    p.add_argument("--max-steps", type=int, default=None, help="stop each stage after this many steps in this call (resume later)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score the methods on a fixed-seed synthetic test set (tables, chart, example grid)")
    p.add_argument("--faces", type=Path, default=DEFAULT_EVAL_FACES, help="folder of face photos (default: the shared val/ set)")
    p.add_argument("--method", type=lambda s: [m.strip() for m in s.split(",") if m.strip()], default=["mofrr", "frrffusion", "baseline"],
                   help="comma-separated: mofrr, frrffusion, baseline")
    p.add_argument("--steps", type=int, default=10, help="DDIM sampling steps")
    p.add_argument("--n", type=int, default=None, help="use only the first N photos")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", type=Path, default=None, help="folder holding mofrr/, frrffusion/ and baseline/ (default: the bundled weights)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("-o", "--out", type=Path, default=Path("out/evaluation"))
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("retouch", help="apply simulated beautify retouching to every face of photos")
    p.add_argument("inputs", nargs="+", type=Path, help="photos")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image (one input) or folder")
    p.add_argument("--ops", type=parse_ops, required=True, help="e.g. whitening=60,eye_enlargement=40 (applied in this order)")
    p.add_argument("--seed", type=int, default=0, help="seed of the hidden filter parameters")
    p.add_argument("--size", type=int, default=None, help="aligned crop side (default: the face's own resolution)")
    p.set_defaults(func=cmd_retouch)

    p = sub.add_parser("synthesize", help="build a paired dataset of aligned originals and retouched versions")
    p.add_argument("--faces", type=Path, required=True, help="folder of face photos (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="dataset folder (re-running resumes)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--singles", type=int, default=1, help="single-op versions per type and face")
    p.add_argument("--mixed", type=int, default=2, help="mixed versions per face")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    p.set_defaults(func=cmd_synthesize)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MofrrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; outputs written so far are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
