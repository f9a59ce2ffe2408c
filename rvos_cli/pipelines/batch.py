"""Many videos in one process: checking a batch's plan and running its items.

The items come from `pipelines/items.py`. Before the first of them runs, the whole plan is
checked: names unique, no two items writing one output, no item's output being (or holding)
another item's input. The model is built once; each item is then one ordinary `run_refer` /
`run_propagate` with its own outputs. One bad item is reported and skipped (exit 6 at the end), and
`--shard I/N` (or a Slurm array, `pipelines/shards.py`) splits the sorted items across processes.
"""

from __future__ import annotations

import collections
import errno
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rvos_cli import settings
from rvos_cli.errors import EXIT_PARTIAL, InputError, RvosError, output_error
from rvos_cli.models.options import ModelOptions
from rvos_cli.paths import CONTAINS, INSIDE, IS, Resolver, child, conflicts, safe_name
from rvos_cli.pipelines.items import Item
from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions, WindowOptions
from rvos_cli.pipelines.shards import shard


@dataclass
class BatchSummary:
    """One line per item as it finishes (`lines`), then this summary."""

    command: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    shard: tuple[int, int] = (1, 1)  # I/N, counted from 1

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


# --- running ---------------------------------------------------------------------------------


def run_items(
    command: str,
    items: list[Item],
    run_one: Callable[[Item], Any],
    done: Callable[[Item], bool],
    reporter,
    skip_existing: bool = False,
    shard_spec: tuple[int, int] = (1, 1),
) -> BatchSummary:
    """Run each item; an item that fails (or came with an `error`) is reported and the others run.
    With --json, one line per item. An unexpected error in one item is reported as a bug in that
    item (RVOS_DEBUG=1 stops the batch with its traceback instead)."""
    summary = BatchSummary(command, shard=shard_spec)

    def failure(item: Item, error: str) -> None:
        summary.failed[item.name] = error
        reporter.warn(f"{item.name}: {error}")
        reporter.item({"name": item.name, "status": "failed", "error": error})

    with reporter.progress(f"{command} ({len(items)} videos)", len(items)) as advance:
        for item in items:
            if item.error is not None:
                failure(item, item.error)
            elif skip_existing and done(item):
                summary.skipped.append(item.name)
                reporter.item({"name": item.name, "status": "skipped"})
            else:
                try:
                    result = run_one(item)
                except RvosError as error:
                    failure(item, str(error))
                except Exception as error:
                    if settings.current().debug:
                        raise
                    lines = str(error).strip().splitlines()
                    detail = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
                    failure(item, f"internal error ({detail}); this is a bug: RVOS_DEBUG=1 shows the traceback")
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
    (propagate): the folder of per-item overlay videos; overlay (refer): write overlay videos.
    items: the whole batch; shard: (I, N), this process's part of it (from 1); sources: files the
    items were read from (a manifest), which no output may overwrite."""

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
    shard: tuple[int, int] = (1, 1)
    sources: tuple[Path, ...] = ()
    track: ModelOptions | None = None  # refer --track: the tracker, built once too
    tracked_clip: ClipOptions | None = None


def refer_request(batch: BatchRequest, item: Item):
    from rvos_cli.pipelines.refer import ReferRequest, default_output

    name = safe_name(item.name, "video name")  # every output under the batch's folders stays inside them
    output = item.output or (batch.out / f"{name}.refer.mp4" if batch.out else default_output(item.input))
    masks = item.masks or (child(batch.masks, name, "video name") if batch.masks else None)
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
        track=batch.track,
        tracked_clip=batch.tracked_clip,
    )


def propagate_request(batch: BatchRequest, item: Item):
    from rvos_cli.pipelines.propagate import PropagateRequest, default_output

    name = safe_name(item.name, "video name")  # every output under the batch's folders stays inside them
    output = item.output or (child(batch.out, name, "video name") if batch.out else default_output(item.input))
    video = item.video or (batch.video / f"{name}.mp4" if batch.video else None)
    return PropagateRequest(item.input, item.mask, batch.options, batch.runtime, batch.clip, output=output, video=video)


def outputs_of(request) -> list[Path]:
    """The paths a refer or propagate request writes."""
    return [path for path, _ in output_kinds(request)]


def output_kinds(request) -> list[tuple[Path, bool]]:
    """(path, is a folder) of each output of a refer or propagate request."""
    if hasattr(request, "texts"):
        outputs = [(request.output if request.overlay else None, False), (request.masks_dir, True)]
    else:
        outputs = [(request.output, True), (request.video, False)]
    return [(path, folder) for path, folder in outputs if path is not None]


def is_done(batch: BatchRequest, item: Item) -> bool:
    """Whether an item's outputs all exist (they appear only once complete)."""
    request = (refer_request if batch.command == "refer" else propagate_request)(batch, item)
    return all(path.exists() for path in outputs_of(request))


ROOTS = (("-o", "out"), ("--masks", "masks"), ("--video", "video"))


def check_roots(batch: BatchRequest) -> None:
    """The batch's output folders (-o, --masks, --video) must be folders, or not exist yet."""
    for flag, attribute in ROOTS:
        root = getattr(batch, attribute)
        if root is not None and root.exists() and not root.is_dir():
            raise InputError(
                f"{flag} {root} is an existing file; for a batch {flag} names a folder (created if needed), "
                "one output per video inside it"
            )


def make_roots(batch: BatchRequest) -> None:
    """Create the batch's output folders; a folder that cannot be written is exit 5 before any work."""
    for flag, attribute in ROOTS:
        root = getattr(batch, attribute)
        if root is None:
            continue
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(root, exc, f"create the {flag} folder") from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise output_error(
                root, PermissionError(errno.EACCES, "Permission denied"), f"write into the {flag} folder"
            )


def check_plan(batch: BatchRequest, request_of: Callable) -> None:
    """Before the first item: names unique, no two items writing one output, and no item's output
    being, holding or writing an image into another item's input or a file the batch was read from.
    Paths are compared as files (rvos_cli.paths), in time linear in the number of items."""
    counts = collections.Counter(item.name for item in batch.items)
    duplicate = next((name for name, count in counts.items() if count > 1), None)
    if duplicate is not None:
        raise InputError(f"two items share the name {duplicate!r}; give them distinct names")
    resolver = Resolver()
    outputs, inputs = [], [(resolver.place(source), ("", source)) for source in batch.sources]
    for item in batch.items:
        if item.error is not None:
            continue
        for path, folder in output_kinds(request_of(batch, item)):
            outputs.append((resolver.place(path), (item.name, path), folder))
        inputs += [(resolver.place(path), (item.name, path)) for path in (item.input, item.mask) if path is not None]
    for (name, path), (other, source), how in conflicts(outputs, inputs):
        if name == other:
            continue  # the item's own outputs against its own inputs: checked when it runs, its error alone
        what = f"the input {source} of {other}" if other else f"{source}, which the batch was read from"
        verb = {IS: "would overwrite", CONTAINS: "is a folder holding", INSIDE: "writes an image into"}[how]
        raise InputError(f"the output {path} of {name} {verb} {what}; give every video its own outputs")
    for (name, path), (other, other_path), how in conflicts(outputs, [(where, key) for where, key, _ in outputs]):
        if name == other or how == INSIDE:
            continue
        if how == IS:
            raise InputError(f"{name} and {other} would both write {path}; give them distinct names or outputs")
        raise InputError(
            f"the output {other_path} of {other} is inside the output folder {path} of {name}, which is replaced "
            "as a whole; give every video its own outputs"
        )


def run_batch(batch: BatchRequest, reporter) -> BatchSummary:
    """Check the plan of the whole batch, build the model once, then run every item of this shard."""
    from rvos_cli.models.registry import model_spec
    from rvos_cli.pipelines.build import build_propagator, build_referrer, model_weights
    from rvos_cli.pipelines.device import resolve_runtime
    from rvos_cli.pipelines.propagate import run_propagate
    from rvos_cli.pipelines.refer import run_refer
    from rvos_cli.pipelines.sources import open_ahead, open_clip

    if not batch.items:
        raise InputError("the batch has no items; check the inputs, manifest or dataset folder")
    request_of, run = (refer_request, run_refer) if batch.command == "refer" else (propagate_request, run_propagate)
    check_roots(batch)
    check_plan(batch, request_of)
    items = shard(batch.items, *batch.shard)
    make_roots(batch)
    runtime = resolve_runtime(batch.runtime, torch=model_spec(batch.options.model).torch)
    quiet = reporter.nested()
    build = build_referrer if batch.command == "refer" else build_propagator
    built = build(batch.options, runtime, model_weights(batch.options))
    if batch.track is not None:
        built = (*built, build_propagator(batch.track, runtime, model_weights(batch.track))[0])

    runnable = [item for item in items if item.error is None]
    following = dict(zip((item.name for item in runnable), runnable[1:]))
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
                try:
                    path.parent.mkdir(
                        parents=True, exist_ok=True
                    )  # the batch's output folders, e.g. Annotations/<video>
                except OSError as exc:
                    raise output_error(path.parent, exc, "create the folder") from None
            return run(request, quiet, built=built, source=source.result())

        done = lambda item: is_done(batch, item)  # noqa: E731
        return run_items(batch.command, items, run_one, done, reporter, batch.skip_existing, batch.shard)
