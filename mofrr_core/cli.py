"""The `mofrr` command line: restore retouched photos, retouch photos, synthesize paired data, train, evaluate,
calibrate the router."""

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


def positive_int(text: str) -> int:
    """'4' -> 4; zero, negative or not a whole number is an argparse error."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


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
    from .batch_restore import BatchRestore, Processes

    processes = Processes(args.device)
    batch = BatchRestore(args.inputs, args.output, recursive=args.recursive, overwrite=args.overwrite, processes=processes)
    args.device = processes.device
    pipe, weights = _load_pipeline(args) if batch.todo else (None, None)
    options = dict(steps=args.steps, seed=args.seed, aligned=args.aligned, size=args.size, gating=args.gating, threshold=args.threshold, experts=args.experts)
    if args.method == "frrffusion":
        options = {k: options[k] for k in ("steps", "seed", "aligned", "size")}
    tally = batch.run(pipe, options, weights=weights, batch_size=args.batch_size)
    return 1 if tally.failed else 0


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
        for folder in export_weights(recipe, args.weights_out, progress=not args.quiet):
            print(f"wrote {folder}")
        if recipe.calibration is not None:
            from .calibration import CALIBRATION_FILE, Calibration

            print(Calibration.load(args.weights_out / "mofrr" / CALIBRATION_FILE).summary())
        return 0
    names = recipe.order if args.stage == "all" else [args.stage]
    for name in names:
        for stage in make_stages(recipe, name, args.type):
            result = Trainer(stage, recipe, progress=not args.quiet, max_steps=args.max_steps).run()
            print(f"{stage.key}: step {result.step}, best score {result.best_score:.4f}, weights in {result.folder / 'best'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, weights_name

    if not args.faces.is_dir():
        raise MofrrError(f"{args.faces}: no such folder; pass --faces with a folder of face photos (e.g. examples)")
    weights = {m: str(args.weights / weights_name(m)) for m in args.method} if args.weights else None
    report = evaluate(args.faces, args.out, methods=args.method, steps=args.steps, n=args.n, seed=args.seed, weights=weights, device=args.device)
    print(report.to_markdown())
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import torch

    from .calibration import calibrate_router, calibration_set, check_new_folder, write_calibrated
    from .models import Router
    from .weights import default_weights, load_model, resolve_weights

    if args.device == "cuda" and not torch.cuda.is_available():
        raise MofrrError("--device cuda: no CUDA GPU is available here; use --device cpu")
    check_new_folder(args.out)  # before the long work, not after it
    pipeline = resolve_weights(args.weights or default_weights("mofrr"))
    router = load_model(pipeline / "router", Router).to(args.device)
    data = calibration_set(args.faces, args.seeds)
    calibration = calibrate_router(router, data, args.types)
    print(calibration.summary())
    print(f"wrote {write_calibrated(pipeline, router, calibration, args.out)}; restore with --weights {args.out}")
    return 0


def _csv(cast):
    """argparse type: 'a,b,c' -> [cast(a), cast(b), cast(c)]."""
    return lambda text: [cast(item.strip()) for item in text.split(",") if item.strip()]


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import quality_curve, run_bench

    if args.quick:
        args.configs, args.sizes, args.steps, args.batch, args.repeats, args.warmup = ["tiny"], [64], [1], [1], 1, 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    run_bench(args.methods, args.configs, args.sizes, args.steps, args.batch, args.device, args.repeats, args.warmup,
              compare=not args.no_plain, out=args.out)
    print((args.out / "bench.md").read_text())
    if args.quality:
        curve = quality_curve(args.quality, args.steps)
        lines = ["| DDIM steps | " + " | ".join(map(str, curve)) + " |", "|---" * (len(curve) + 1) + "|",
                 "| PSNR gain, mixed (dB) | " + " | ".join(f"{v:+.2f}" for v in curve.values()) + " |"]
        (args.out / "quality.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mofrr", description="Face retouching restoration (MoFRR, FRRffusion) and a beautify-filter simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("restore", help="restore retouched photos (every face, pasted back) or aligned face crops")
    p.add_argument("inputs", nargs="+", type=Path, help="photos, or folders of them; with --aligned, aligned face crops")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output folder: <stem>.png and <stem>.json per input (a folder's sub-folders are kept)")
    p.add_argument("--recursive", action="store_true", help="also take the photos in sub-folders of the folders given")
    p.add_argument("--batch-size", type=positive_int, default=1, help="photos per pipeline call (their faces run as one batch)")
    p.add_argument("--overwrite", action="store_true", help="restore again the inputs whose PNG and JSON already exist (default: skip them)")
    p.add_argument("--method", choices=["mofrr", "frrffusion"], default="mofrr")
    p.add_argument("--steps", type=int, default=10, help="DDIM sampling steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--aligned", action="store_true", help="inputs are aligned face crops: no detection, same-size output")
    p.add_argument("--gating", choices=["hard", "soft"], default="hard", help="MoFRR: run experts over the threshold, or all weighted by probability")
    p.add_argument("--threshold", type=float, default=0.5, help="MoFRR hard-gating threshold on the router's probability")
    p.add_argument("--experts", type=parse_types, default=None, help="MoFRR: run exactly these experts (comma-separated), overriding the router")
    p.add_argument("--weights", default=None, help="pipeline folder or Hugging Face repo id (default: the bundled weights)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="default: cpu, or under `accelerate launch` each process's own GPU")
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
                   help="comma-separated: mofrr, frrffusion, baseline; mofrr_oracle runs MoFRR with the experts of the types truly applied")
    p.add_argument("--steps", type=int, default=10, help="DDIM sampling steps")
    p.add_argument("--n", type=int, default=None, help="use only the first N photos")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", type=Path, default=None, help="folder holding mofrr/, frrffusion/ and baseline/ (default: the bundled weights)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("-o", "--out", type=Path, default=Path("out/evaluation"))
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="set the router's thresholds on clean photos like yours (a copy of the MoFRR weights)")
    p.add_argument("--faces", nargs="+", type=Path, required=True, help="folders of clean face photos like the ones you will restore")
    p.add_argument("--seeds", type=_csv(int), default=[1], help="comma-separated: each seed retouches every photo five more ways")
    p.add_argument("--types", type=parse_types, default=None, help="calibrate only these types (comma-separated; default: all four)")
    p.add_argument("--weights", default=None, help="MoFRR pipeline folder or Hugging Face repo id (default: the bundled weights)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("-o", "--out", type=Path, required=True, help="new folder for the calibrated MoFRR weights")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("bench", help="latency, throughput and memory per stage and end to end, fast paths against the plain path")
    p.add_argument("--methods", type=_csv(str), default=["mofrr", "frrffusion"], help="comma-separated: mofrr, frrffusion")
    p.add_argument("--configs", type=_csv(str), default=["lite", "paper"], help="lite (bundled weights), paper, tiny (random init)")
    p.add_argument("--sizes", type=_csv(int), default=[256, 512], help="aligned crop sides")
    p.add_argument("--steps", type=_csv(int), default=[1, 4, 10, 25], help="DDIM steps")
    p.add_argument("--batch", type=_csv(int), default=[1, 8], help="faces per call")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per case (after the warm-up)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--no-plain", action="store_true", help="skip the plain reference path")
    p.add_argument("--quality", type=Path, default=None, help="also measure PSNR gain against --steps on this face folder (e.g. examples)")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny config, 64 px, 1 step, batch 1, 1 repeat")
    p.add_argument("-o", "--out", type=Path, default=Path("out/bench"))
    p.set_defaults(func=cmd_bench)

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
