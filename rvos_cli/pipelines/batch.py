"""Many videos in one process: the items of a batch, where they come from, and running them.

Items come from several inputs, a folder of videos, a manifest (CSV or JSON Lines), or a dataset
in its own layout (DAVIS 2017 for `propagate`, Ref-YouTube-VOS for `refer`). The model is built
once; each item is then one ordinary `run_refer` / `run_propagate` with its own outputs. One bad
item is reported and skipped, and `--shard I/N` (or a Slurm array) splits the sorted items across
processes with no coordination.
"""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rvos_cli.errors import EXIT_PARTIAL, InputError, RvosError
from rvos_cli.models.options import ModelOptions
from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions, WindowOptions

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class Item:
    """One video of a batch. name: unique, used in outputs and reports. texts (refer): the queries;
    ids: their expression ids (Ref-YouTube-VOS), else 0, 1, ... mask (propagate): the first-frame
    PNG or a folder of masks. output: the overlay video (refer) or the masks folder (propagate);
    masks (refer): the masks folder; video (propagate): the overlay video."""

    name: str
    input: Path
    texts: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    mask: Path | None = None
    output: Path | None = None
    masks: Path | None = None
    video: Path | None = None


@dataclass
class BatchSummary:
    """One line per item as it finishes (`lines`), then this summary."""

    command: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    shard: tuple[int, int] = (0, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "batch": True,
            "shard": f"{self.shard[0]}/{self.shard[1]}",
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": [{"name": name, "error": error} for name, error in self.failed.items()],
        }

    def human(self) -> str:
        line = f"{len(self.done)} done, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"
        return "\n".join([line, *(f"  failed {name}: {error}" for name, error in self.failed.items())])

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else 0


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Each input as given, except a folder holding video files, which stands for its videos (a folder
    of frames holds none)."""
    expanded = []
    for path in inputs:
        videos = sorted(p for p in path.iterdir() if is_video(p)) if path.is_dir() else []
        expanded += videos or [path]
    return expanded


def unique_names(paths: list[Path]) -> list[str]:
    """Input stems, made unique with their parent folder's name where two share a stem."""
    stems = [p.stem for p in paths]
    return [f"{p.parent.name}_{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]


# --- manifests -------------------------------------------------------------------------------


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV file (with a header) or a JSON Lines file (one object per line)."""
    if not path.is_file():
        raise InputError(f"manifest {path} does not exist; pass a .csv or .jsonl file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise InputError(f"manifest {path} line {number} is not JSON; write one object per line") from None
        return rows
    return list(csv.DictReader(text.splitlines()))


def manifest_items(path: Path, task: str) -> list[Item]:
    """Items of a manifest. Columns: `input` (required), `name`; refer: `text` (several texts joined
    by `|` in CSV, a list in JSON), `output`, `masks`; propagate: `mask` (required), `output`,
    `video`. Relative paths resolve against the manifest's folder."""
    base = path.parent

    def at(value) -> Path | None:
        return None if value in (None, "") else (base / str(value)).resolve()

    items = []
    for number, row in enumerate(read_manifest(path), 1):
        if not isinstance(row, dict) or not row.get("input"):
            raise InputError(f"manifest {path} row {number} has no `input`; every row names its video")
        source = at(row["input"])
        name = str(row.get("name") or source.stem)
        if task == "refer":
            texts = row.get("text") or row.get("texts") or ""
            texts = tuple(texts) if isinstance(texts, list) else tuple(t for t in str(texts).split("|") if t.strip())
            if not texts:
                raise InputError(f"manifest {path} row {number} ({name}) has no `text`; give its queries")
            items.append(Item(name, source, texts=texts, output=at(row.get("output")), masks=at(row.get("masks"))))
        else:
            if not row.get("mask"):
                raise InputError(f"manifest {path} row {number} ({name}) has no `mask`; give its first-frame mask")
            items.append(
                Item(name, source, mask=at(row["mask"]), output=at(row.get("output")), video=at(row.get("video")))
            )
    return items


# --- datasets in their own layouts -----------------------------------------------------------


def davis_root(path: Path) -> Path | None:
    """`path` if it is a DAVIS 2017 root (JPEGImages/480p and Annotations/480p)."""
    return path if (path / "JPEGImages" / "480p").is_dir() and (path / "Annotations" / "480p").is_dir() else None


def davis_items(root: Path, output: Path) -> list[Item]:
    """Every video of a DAVIS root, writing OUT/<video>/<frame>.png (what `rvos eval` and the DAVIS
    evaluation read)."""
    frames = root / "JPEGImages" / "480p"
    return [
        Item(video.name, video, mask=root / "Annotations" / "480p" / video.name, output=output / video.name)
        for video in sorted(p for p in frames.iterdir() if p.is_dir())
    ]


def ytvos_expressions(path: Path) -> Path | None:
    """The meta_expressions.json of a Ref-YouTube-VOS root (`path` or its `valid` split)."""
    for candidate in (path / "meta_expressions" / "valid", path / "valid", path):
        if (candidate / "meta_expressions.json").is_file():
            return candidate / "meta_expressions.json"
    return None


def ytvos_items(root: Path, output: Path) -> list[Item]:
    """Every video of a Ref-YouTube-VOS split with its expressions, writing the submission layout
    OUT/Annotations/<video>/<expression id>/<frame>.png."""
    meta = json.loads(ytvos_expressions(root).read_text(encoding="utf-8"))["videos"]
    frames = next((d for d in (root / "valid" / "JPEGImages", root / "JPEGImages") if d.is_dir()), None)
    if frames is None:
        raise InputError(f"{root} has meta_expressions.json but no valid/JPEGImages folder; pass the dataset root")
    items = []
    for video in sorted(meta):
        expressions = meta[video]["expressions"]
        ids = tuple(sorted(expressions, key=lambda i: int(i) if str(i).isdigit() else str(i)))
        items.append(
            Item(
                video,
                frames / video,
                texts=tuple(expressions[i]["exp"] for i in ids),
                ids=ids,
                masks=output / "Annotations" / video,
            )
        )
    return items


# --- sharding --------------------------------------------------------------------------------


def parse_shard(text: str | None, environ: dict[str, str] | None = None) -> tuple[int, int]:
    """`--shard I/N`, else a Slurm array (SLURM_ARRAY_TASK_ID with _COUNT, or with _MIN/_MAX), else 0/1."""
    environ = os.environ if environ is None else environ
    if text is None and "SLURM_ARRAY_TASK_ID" in environ:
        task = int(environ["SLURM_ARRAY_TASK_ID"])
        if "SLURM_ARRAY_TASK_COUNT" in environ:
            low = int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
            return task - low, int(environ["SLURM_ARRAY_TASK_COUNT"])
        low, high = int(environ.get("SLURM_ARRAY_TASK_MIN", 0)), int(environ.get("SLURM_ARRAY_TASK_MAX", task))
        return task - low, high - low + 1
    if text is None:
        return 0, 1
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r} is not I/N (e.g. --shard 0/4)") from None
    if not 0 <= index < count:
        raise InputError(f"--shard {text}: I must be at least 0 and less than N")
    return index, count


def shard_of(items: list[Item], spec: str | None) -> list[Item]:
    """The items of this process's shard (`--shard I/N`, else a Slurm array, else all)."""
    return shard(items, *parse_shard(spec))


def shard(items: list[Item], index: int, count: int) -> list[Item]:
    """Every `count`-th item of the list sorted by name, starting at `index`."""
    names = [item.name for item in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"two items share the name {duplicates[0]!r}; give them distinct names")
    return sorted(items, key=lambda item: item.name)[index::count]


# --- running ---------------------------------------------------------------------------------


def run_items(
    command: str,
    items: list[Item],
    run_one: Callable[[Item], Any],
    done: Callable[[Item], bool],
    reporter,
    skip_existing: bool = False,
    shard_spec: tuple[int, int] = (0, 1),
) -> BatchSummary:
    """Run each item; a failed item is reported and skipped. With --json, one line per item."""
    summary = BatchSummary(command, shard=shard_spec)
    with reporter.progress(f"{command} ({len(items)} videos)", len(items)) as advance:
        for item in items:
            if skip_existing and done(item):
                summary.skipped.append(item.name)
                reporter.item({"name": item.name, "status": "skipped"})
            else:
                try:
                    result = run_one(item)
                except RvosError as error:
                    summary.failed[item.name] = str(error)
                    reporter.warn(f"{item.name}: {error}")
                    reporter.item({"name": item.name, "status": "failed", "error": str(error)})
                else:
                    summary.done.append(item.name)
                    reporter.item({"name": item.name, "status": "done", **result.to_json()})
            advance(1)
    return summary


# --- the two commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRequest:
    """A batch of `refer` or `propagate` items sharing one model. out: the folder per-item outputs go
    to (default: beside each input); masks (refer): the folder of per-item mask folders; video
    (propagate): the folder of per-item overlay videos; overlay (refer): write overlay videos."""

    command: str
    items: list[Item]
    options: ModelOptions
    runtime: RuntimeOptions = RuntimeOptions()
    clip: ClipOptions = ClipOptions()
    windows: WindowOptions = WindowOptions()
    out: Path | None = None
    masks: Path | None = None
    video: Path | None = None
    overlay: bool = True
    legend: bool = False
    skip_existing: bool = False
    shard: tuple[int, int] = (0, 1)


def refer_request(batch: BatchRequest, item: Item):
    from rvos_cli.pipelines.refer import ReferRequest, default_output

    output = item.output or (batch.out / f"{item.name}.refer.mp4" if batch.out else default_output(item.input))
    masks = item.masks or (batch.masks / item.name if batch.masks else None)
    return ReferRequest(
        item.input,
        list(item.texts),
        batch.options,
        batch.runtime,
        batch.clip,
        batch.windows,
        output=output,
        masks_dir=masks,
        legend=batch.legend,
        overlay=batch.overlay,
        query_names=item.ids,
    )


def propagate_request(batch: BatchRequest, item: Item):
    from rvos_cli.pipelines.propagate import PropagateRequest, default_output

    output = item.output or (batch.out / item.name if batch.out else default_output(item.input))
    video = item.video or (batch.video / f"{item.name}.mp4" if batch.video else None)
    return PropagateRequest(item.input, item.mask, batch.options, batch.runtime, batch.clip, output=output, video=video)


def outputs_of(request) -> list[Path]:
    """The paths a refer or propagate request writes."""
    if hasattr(request, "texts"):
        outputs = [request.output if request.overlay else None, request.masks_dir]
    else:
        outputs = [request.output, request.video]
    return [path for path in outputs if path is not None]


def is_done(batch: BatchRequest, item: Item) -> bool:
    """Whether an item's outputs all exist (they appear only once complete)."""
    request = (refer_request if batch.command == "refer" else propagate_request)(batch, item)
    return all(path.exists() for path in outputs_of(request))


def run_batch(batch: BatchRequest, reporter) -> BatchSummary:
    """Build the model once, then every item of this shard in turn."""
    from rvos_cli.models.registry import model_spec
    from rvos_cli.pipelines.build import build_propagator, build_referrer, model_weights
    from rvos_cli.pipelines.device import resolve_runtime
    from rvos_cli.pipelines.propagate import run_propagate
    from rvos_cli.pipelines.refer import run_refer
    from rvos_cli.pipelines.sources import open_ahead, open_clip

    if not batch.items:
        raise InputError("the batch has no items; check the inputs, manifest or dataset folder")
    runtime = resolve_runtime(batch.runtime, torch=model_spec(batch.options.model).torch)
    quiet = reporter.nested()
    build = build_referrer if batch.command == "refer" else build_propagator
    built = build(batch.options, runtime, model_weights(batch.options))
    request_of, run = (refer_request, run_refer) if batch.command == "refer" else (propagate_request, run_propagate)

    following = dict(zip((item.name for item in batch.items), batch.items[1:]))
    ahead = batch.windows.window if batch.command == "refer" else 8
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvos-open") as opener:
        opened: dict[str, Future] = {}

        def run_one(item: Item):
            # Open the next video and decode its first window while the model works on this one.
            source = opened.pop(item.name, None) or opener.submit(open_clip, item.input, batch.clip, quiet)
            opened.clear()  # a video prepared for an item that was then skipped
            if item.name in following:
                upcoming = following[item.name]
                opened[upcoming.name] = opener.submit(open_ahead, upcoming.input, batch.clip, ahead, quiet)
            request = request_of(batch, item)
            for path in outputs_of(request):
                path.parent.mkdir(parents=True, exist_ok=True)  # the batch's output folders, e.g. Annotations/<video>
            return run(request, quiet, built=built, source=source.result())

        done = lambda item: is_done(batch, item)  # noqa: E731
        return run_items(batch.command, batch.items, run_one, done, reporter, batch.skip_existing, batch.shard)


# --- from the command line -------------------------------------------------------------------


def refer_items(inputs: list[Path], texts: list[str], manifest: Path | None, out: Path | None) -> list[Item] | None:
    """The items of `rvos refer`, or None for one plain video (the single-run command)."""
    if not inputs and manifest is None:
        raise InputError("give the video (a file or a folder of frames), several of them, or --manifest FILE")
    dataset = len(inputs) == 1 and ytvos_expressions(inputs[0]) is not None
    if texts and (manifest is not None or dataset):
        raise InputError("-t/--text does not apply here: the queries come from the manifest or the dataset")
    if manifest is not None:
        if inputs:
            raise InputError("give either INPUT paths or --manifest, not both")
        return manifest_items(manifest, "refer")
    if dataset:
        if out is None:
            raise InputError(f"{inputs[0]} is a Ref-YouTube-VOS dataset: give -o OUT for its Annotations/ folder")
        return ytvos_items(inputs[0], out)
    paths = expand_inputs(inputs)
    if len(paths) == 1 and paths == inputs:
        return None
    if not texts:
        raise InputError("give the text queries with -t/--text (they apply to every video), or use --manifest")
    return [Item(name, path, texts=tuple(texts)) for name, path in zip(unique_names(paths), paths)]


def propagate_items(
    inputs: list[Path], mask: Path | None, manifest: Path | None, out: Path | None
) -> list[Item] | None:
    """The items of `rvos propagate`, or None for one plain video (the single-run command). With
    several inputs, --mask is a folder holding `<name>.png` (or a `<name>/` folder of masks) per video."""
    if not inputs and manifest is None:
        raise InputError("give the video (a file or a folder of frames), several of them, or --manifest FILE")
    if manifest is not None:
        if inputs:
            raise InputError("give either INPUT paths or --manifest, not both")
        return manifest_items(manifest, "propagate")
    if len(inputs) == 1 and davis_root(inputs[0]) is not None:
        if out is None:
            raise InputError(f"{inputs[0]} is a DAVIS dataset: give -o OUT for the <video>/<frame>.png results")
        return davis_items(inputs[0], out)
    paths = expand_inputs(inputs)
    if len(paths) == 1 and paths == inputs:
        if mask is None:
            raise InputError("give the first frame's label mask with --mask (a PNG, or a folder of masks)")
        return None
    if mask is None or not mask.is_dir():
        raise InputError(
            "with several videos, --mask is a folder holding <video name>.png (or a <video name>/ "
            "folder of masks) for each; or use --manifest"
        )
    items = []
    for name, path in zip(unique_names(paths), paths):
        # A missing mask fails that video alone, when its turn comes.
        found = next((m for m in (mask / name, mask / f"{name}.png") if m.exists()), mask / f"{name}.png")
        items.append(Item(name, path, mask=found))
    return items
