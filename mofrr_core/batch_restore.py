"""Restoring many photos: files and folders streamed through a bounded queue, restored in batches, what is
already done skipped, and the inputs split across data-parallel processes started by `accelerate launch`.

Memory stays the same for any number of files: a loader thread decodes photos into a queue of fixed size,
the restoring thread takes them a batch at a time, and every output is written as soon as it is restored.
Outputs are written under a temporary name and then renamed, so an interrupted run never leaves a
half-written PNG that a re-run would take as done.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from .errors import MofrrError
from .imageio import IMAGE_SUFFIXES, Photo, load_photo, save_photo


def step_progress(bar: tqdm, done: int, total: int) -> None:
    """Move a tqdm bar to `done` of `total` denoising steps."""
    if bar.total != total:
        bar.reset(total)
    bar.n = done
    bar.refresh()


# what to restore


@dataclass(frozen=True)
class Job:
    """One input file and where its restoration goes: `target` (a PNG) and `report` (its JSON)."""

    source: Path
    target: Path

    @property
    def report(self) -> Path:
        return self.target.with_suffix(".json")

    def done(self) -> bool:
        """Both outputs exist (each is written whole or not at all, so both existing means finished)."""
        return self.target.is_file() and self.report.is_file()


def image_files(folder: Path, recursive: bool, exclude: Path) -> list[Path]:
    """The image files of `folder` (and of its sub-folders when `recursive`), sorted; hidden files and
    folders and anything under `exclude` (the output folder) are left out."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
        and exclude not in path.resolve().parents
    )


def plan_jobs(inputs: Iterable[Path], out: Path, recursive: bool = False) -> tuple[list[Job], list[str]]:
    """A job per input file, in the order given (a folder: its image files, sorted, each written to
    OUT/<its path inside the folder>.png), and one line per input that cannot be planned: an empty folder,
    the output folder itself, or an input whose outputs would overwrite it or another input's outputs.
    An input named twice is planned once."""
    out_resolved = out.resolve()
    jobs: list[Job] = []
    problems: list[str] = []
    claimed: dict[Path, Path] = {}
    for path in map(Path, inputs):
        if not path.is_dir():
            pairs = [(path, out / f"{path.stem}.png")]
        elif path.resolve() == out_resolved:
            problems.append(f"{path}: this folder is also the output folder; give another output folder with -o")
            continue
        else:
            files = image_files(path, recursive, out_resolved)
            if not files:
                problems.append(f"{path}: no image files in this folder; give photos (png, jpg, webp, tif), or --recursive for sub-folders")
            pairs = [(file, out / file.relative_to(path).with_suffix(".png")) for file in files]
        for source, target in pairs:
            key, original = target.resolve(), source.resolve()
            if key == original:
                problems.append(f"{source}: restoring it to {target} would overwrite it; give another output folder with -o")
            elif key in claimed and claimed[key] != original:
                problems.append(f"{source}: its output {target} is already that of {claimed[key]}; rename one of them or restore them separately")
            elif key not in claimed:
                claimed[key] = original
                jobs.append(Job(source, target))
    return jobs, problems


# reading ahead


_END = object()


class PhotoLoader:
    """Reads and decodes the jobs' photos on a background thread into a queue that holds at most `capacity`
    of them, so reading overlaps restoring and memory does not grow with the number of files.

    Iterating yields (job, its Photo or the MofrrError saying why it cannot be read), in order; a bug in
    reading is raised in the iterating thread. `peak`: the most photos the queue ever held. Leaving the
    `with` block stops the loader (it waits on a full queue in short slices, so it sees the stop).
    """

    def __init__(self, jobs: list[Job], capacity: int):
        self.jobs, self.peak = jobs, 0
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._load, name="mofrr-loader", daemon=True)

    def __enter__(self) -> PhotoLoader:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[tuple[Job, Photo | MofrrError]]:
        while (entry := self._queue.get()) is not _END:
            if isinstance(entry[1], Exception) and not isinstance(entry[1], MofrrError):
                raise entry[1]
            yield entry

    def _load(self) -> None:
        for job in self.jobs:
            if self._stop.is_set():
                return
            try:
                photo = load_photo(job.source)
            except Exception as exc:  # handed to the iterating thread, which raises it unless it is a MofrrError
                photo = exc
            self._put((job, photo))
        self._put(_END)

    def _put(self, entry) -> None:
        """Queue `entry` once there is room, unless the loader is stopped first."""
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
            except queue.Full:
                continue
            self.peak = max(self.peak, self._queue.qsize())
            return


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter), taken lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# restoring and writing


def attempt(call: Callable, *args, **kwargs):
    """`call(*args, **kwargs)`, or the MofrrError it raised."""
    try:
        return call(*args, **kwargs)
    except MofrrError as exc:
        return exc


def restore_batch(pipe, photos: list[Photo], names: list[str], options: dict, callback: Callable | None = None) -> list:
    """Restore photos in one pipeline call (their faces batched); when that call meets a user error (e.g. a
    photo without a face) restore them one by one, so only the photo at fault is lost.

    Returns per photo its RestorationResult or the MofrrError saying why there is none.
    """
    outcome = attempt(pipe, photos, name=names, callback=callback, **options)
    if isinstance(outcome, MofrrError) and len(photos) > 1:
        return [attempt(pipe, photo, name=name, callback=callback, **options) for photo, name in zip(photos, names)]
    return [outcome] if isinstance(outcome, MofrrError) else outcome


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """`write` to a temporary file beside `target` (same suffix), then rename it to `target` in one step."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial{target.suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(temporary)
        os.replace(temporary, target)
    except OSError as exc:
        raise MofrrError(f"{target}: could not be written ({exc.strerror or exc}); check that the folder is writable and has free space") from None
    finally:
        temporary.unlink(missing_ok=True)


def write_outputs(job: Job, result, weights: str) -> str:
    """Write the restored photo and its JSON report, each atomically (the PNG first); returns the line to print."""
    report = {"input": str(job.source), "output": str(job.target), "weights": weights, **result.to_dict()}
    write_atomically(job.target, lambda path: save_photo(result.image, path))
    write_atomically(job.report, lambda path: path.write_text(json.dumps(report, indent=2)))
    active = ", ".join(report.get("active") or []) or "none"
    undone = f"; undone: {', '.join(report['undone'])}" if report.get("undone") else ""
    return f"{job.source.name}: {len(result.faces)} face(s) restored ({result.method}; experts: {active}{undone}) -> {job.target}"


# processes


class Processes:
    """This process's part in a data-parallel run started by `accelerate launch` (or torchrun): its device,
    its share of the inputs, whether it is the main one. Started alone it is the whole run, on the CPU unless
    `requested_device` says otherwise; accelerate is imported only when launched, so a plain run stays light.

    Under accelerate the default device is the process's own ("cuda" then means its own GPU: accelerate
    makes it the current one), or the CPU when no GPU is available or `accelerate launch --cpu` was used.
    The launcher stops every process as soon as one exits with an error, so processes `wait` for each other
    before exiting; `WAIT_LIMIT` bounds that wait.
    """

    WAIT_LIMIT = timedelta(hours=12)

    def __init__(self, requested_device: str | None = None):
        self.state = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 or "ACCELERATE_USE_CPU" in os.environ:
            import torch
            from accelerate import PartialState
            from accelerate.utils import parse_flag_from_env

            cpu = requested_device == "cpu" or parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
            self.state = PartialState(cpu=cpu, timeout=self.WAIT_LIMIT)
        self.device = requested_device or ("cpu" if self.state is None else self.state.device.type)

    @property
    def count(self) -> int:
        return 1 if self.state is None else self.state.num_processes

    @property
    def index(self) -> int:
        return 0 if self.state is None else self.state.process_index

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def wait(self) -> None:
        """Wait until every process gets here (at once when alone)."""
        if self.count > 1:
            self.state.wait_for_everyone()

    def share(self, items: list) -> list:
        """This process's contiguous part of `items` (all of them when it runs alone)."""
        if self.count < 2:
            return list(items)
        with self.state.split_between_processes(items) as mine:
            return list(mine)


# the run


@dataclass
class Tally:
    """What one process did with its inputs; `queue_peak`: the most photos its loader's queue held."""

    restored: int = 0
    skipped: int = 0
    failed: int = 0
    queue_peak: int = 0


class BatchRestore:
    """Restore files and folders: plan the jobs, leave out those already done (unless `overwrite`), take
    this process's share of the rest, then `run`. Planning comes first, so no pipeline is loaded when nothing
    is left; every process checks what is done before any writes, so all split the same list evenly.
    Problems found while planning and the skipped inputs are reported by the main process only."""

    def __init__(self, inputs: Iterable[Path], out: Path, *, recursive: bool = False, overwrite: bool = False, processes: Processes | None = None):
        self.processes = processes or Processes()
        jobs, problems = plan_jobs(inputs, out, recursive)
        todo = jobs if overwrite else [job for job in jobs if not job.done()]
        self.processes.wait()
        self.todo = self.processes.share(todo)
        main = self.processes.is_main
        self.problems = problems if main else []
        self.skipped = len(jobs) - len(todo) if main else 0

    def run(self, pipe, options: dict, *, weights: str, batch_size: int = 1, queue_size: int | None = None) -> Tally:
        """Restore the jobs left, `batch_size` photos per pipeline call (`options`: its keywords), writing each
        PNG and report (naming `weights`) as soon as it is restored; prints a line per input and a summary.
        The loader's queue holds `queue_size` photos (default: one batch, at least 2)."""
        tally = Tally(skipped=self.skipped)
        for problem in self.problems:
            self._fail(tally, problem)
        loader = PhotoLoader(self.todo, queue_size or max(2, batch_size))
        with loader, tqdm(total=len(self.todo), unit="photo", disable=not self.processes.is_main or len(self.todo) < 2) as bar:
            for chunk in chunks(loader, batch_size):
                self._restore(pipe, chunk, options, weights, tally)
                bar.update(len(chunk))
        tally.queue_peak = loader.peak
        self.processes.wait()
        self._summarise(tally)
        return tally

    def _restore(self, pipe, chunk: list[tuple[Job, Photo | MofrrError]], options: dict, weights: str, tally: Tally) -> None:
        readable = []
        for job, photo in chunk:
            if isinstance(photo, MofrrError):
                self._fail(tally, str(photo))
            else:
                readable.append((job, photo))
        if not readable:
            return
        names = [job.source.name for job, _ in readable]
        desc = names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"
        with tqdm(desc=desc, unit="step", leave=False, disable=not self.processes.is_main) as bar:
            outcomes = restore_batch(pipe, [photo for _, photo in readable], names, options, lambda done, total: step_progress(bar, done, total))
        for (job, _), outcome in zip(readable, outcomes):
            if not isinstance(outcome, MofrrError):
                outcome = attempt(write_outputs, job, outcome, weights)
            if isinstance(outcome, MofrrError):
                self._fail(tally, str(outcome))
            else:
                tqdm.write(outcome)
                tally.restored += 1

    @staticmethod
    def _fail(tally: Tally, message: str) -> None:
        tally.failed += 1
        tqdm.write(f"error: {message}", file=sys.stderr)

    def _summarise(self, tally: Tally) -> None:
        who = f"process {self.processes.index + 1} of {self.processes.count}: " if self.processes.count > 1 else ""
        skipped = f", {tally.skipped} done already, skipped (--overwrite redoes them)" if tally.skipped else ""
        print(f"{who}{tally.restored} restored{skipped}")
        if tally.failed:
            print(f"{who}{tally.failed} of {tally.restored + tally.skipped + tally.failed} inputs failed", file=sys.stderr)
