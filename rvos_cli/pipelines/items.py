"""The videos of a batch and where they come from: several inputs, a folder of videos, a manifest
(CSV or JSON Lines), or a dataset in its own layout (DAVIS 2017 for `propagate`, Ref-YouTube-VOS
for `refer`).

Names read from these files (a manifest's `name`, Ref-YouTube-VOS video and expression ids, DAVIS
folder names) become file and folder names under the output root, so each must be one safe path
component (`rvos_cli.paths.safe_name`). A row or video that is wrong in itself becomes an `Item`
with an `error`, reported as failed while the others run (exit 6); a file that cannot be read as a
manifest or a dataset at all is exit 2 before any work.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rvos_cli.errors import InputError
from rvos_cli.paths import Resolver, child, name_problem, safe_name

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class Item:
    """One video of a batch. name: unique, used in outputs and reports. texts (refer): the queries;
    ids: their expression ids (Ref-YouTube-VOS), else 0, 1, ... mask (propagate): the first-frame
    PNG or a folder of masks. output: the overlay video (refer) or the masks folder (propagate);
    masks (refer): the masks folder; video (propagate): the overlay video. error: why this item
    cannot run (it is then reported as failed and the others run)."""

    name: str
    input: Path
    texts: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    mask: Path | None = None
    output: Path | None = None
    masks: Path | None = None
    video: Path | None = None
    error: str | None = None


def failed(name: str, error: InputError | str) -> Item:
    """An item that is reported as failed with `error` instead of running."""
    return Item(name, Path(), error=str(error))


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
    counts: dict[str, int] = {}
    for path in paths:
        counts[path.stem] = counts.get(path.stem, 0) + 1
    return [f"{p.parent.name}_{p.stem}" if counts[p.stem] > 1 else p.stem for p in paths]


# --- manifests -------------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[Any]:
    """The rows of a CSV file with a header (read as the csv module does: a byte-order mark is
    dropped, a quoted field keeps its newlines) or of a JSON Lines file (one object per line; a
    line that is not JSON is yielded as an InputError)."""
    json_lines = path.suffix.lower() in (".jsonl", ".json", ".ndjson")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if not json_lines:
                for row in csv.DictReader(handle):  # header names without the spaces around them
                    yield {(key or "").strip(): value for key, value in row.items()}
                return
            number = 0
            for line in handle:
                if not line.strip():
                    continue
                number += 1
                try:
                    yield json.loads(line)
                except ValueError:
                    yield InputError(f"manifest {path} row {number} is not JSON; write one object per line")
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest {path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"manifest {path} is not valid CSV ({exc}); check its quoting") from None
    except OSError as exc:
        raise InputError(f"cannot read manifest {path}: {exc.strerror or exc}") from None


def manifest_items(path: Path, task: str) -> list[Item]:
    """Items of a manifest. Columns: `input` (required), `name`; refer: `text` (several texts joined
    by `|` in CSV, a string or a list of strings in JSON), `output`, `masks`; propagate: `mask`
    (required), `output`, `video`. Relative paths resolve against the manifest's folder. A bad row is
    an item with an error."""
    if not path.is_file():
        raise InputError(f"manifest {path} does not exist; pass a .csv or .jsonl file")
    resolver = Resolver()  # rows share folders: each folder's real path is looked up once
    return [_manifest_item(row, number, path, task, resolver) for number, row in enumerate(_rows(path), 1)]


def _manifest_item(row: Any, number: int, manifest: Path, task: str, resolver: Resolver) -> Item:
    label = f"manifest {manifest} row {number}"
    given = row.get("name") if isinstance(row, dict) else None
    if isinstance(given, int) and not isinstance(given, bool):
        given = str(given)  # JSON `"name": 7`
    report = given if isinstance(given, str) and name_problem(given) is None else f"row {number}"
    try:
        if isinstance(row, InputError):
            raise row
        if not isinstance(row, dict):
            raise InputError(f"{label} is {type(row).__name__}, not an object of columns; write one object per line")
        source = _path(row, "input", manifest.parent, label, resolver)
        if source is None:
            raise InputError(f"{label} has no `input`; every row names its video")
        name = safe_name(given if given not in (None, "") else source.stem, f"{label}: name")
        column = lambda key: _path(row, key, manifest.parent, label, resolver)  # noqa: E731
        if task == "refer":
            texts = _texts(row, label, name)
            return Item(name, source, texts=texts, output=column("output"), masks=column("masks"))
        mask = column("mask")
        if mask is None:
            raise InputError(f"{label} ({name}) has no `mask`; give its first-frame mask")
        return Item(name, source, mask=mask, output=column("output"), video=column("video"))
    except InputError as error:
        return failed(report, error)


def _path(row: dict, key: str, base: Path, label: str, resolver: Resolver) -> Path | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"{label}: `{key}` is {type(value).__name__}; write a path as text")
    return resolver.real(base / value)


def _texts(row: dict, label: str, name: str) -> tuple[str, ...]:
    value = row.get("text") or row.get("texts") or ""
    if isinstance(value, str):
        value = value.split("|")
    elif not (isinstance(value, list) and all(isinstance(text, str) for text in value)):
        raise InputError(f"{label} ({name}): `text` is {json.dumps(value)[:60]}; give a string or a list of strings")
    texts = tuple(text for text in value if text.strip())
    if not texts:
        raise InputError(f"{label} ({name}) has no `text`; give its queries")
    return texts


# --- datasets in their own layouts -----------------------------------------------------------


def davis_root(path: Path) -> Path | None:
    """`path` if it is a DAVIS 2017 root (JPEGImages/480p and Annotations/480p)."""
    return path if (path / "JPEGImages" / "480p").is_dir() and (path / "Annotations" / "480p").is_dir() else None


def davis_items(root: Path, output: Path) -> list[Item]:
    """Every video of a DAVIS root, writing OUT/<video>/<frame>.png (what `rvos eval` and the DAVIS
    evaluation read)."""
    frames, annotations = root / "JPEGImages" / "480p", root / "Annotations" / "480p"
    items = []
    for folder in sorted(p for p in frames.iterdir() if p.is_dir()):
        try:
            name = safe_name(folder.name, f"DAVIS video folder {folder}:")
            items.append(
                Item(name, folder, mask=child(annotations, name, "video"), output=child(output, name, "video"))
            )
        except InputError as error:
            items.append(failed(folder.name, error))
    return items


def ytvos_expressions(path: Path) -> Path | None:
    """The meta_expressions.json of a Ref-YouTube-VOS root (`path` or its `valid` split)."""
    for candidate in (path / "meta_expressions" / "valid", path / "valid", path):
        if (candidate / "meta_expressions.json").is_file():
            return candidate / "meta_expressions.json"
    return None


def _field(mapping: Any, key: str, where: str, kind: type) -> Any:
    """mapping[key], checked to be a `kind`; a missing or mistyped field makes the file unusable (exit 2)."""
    if not isinstance(mapping, dict) or key not in mapping:
        raise InputError(f"{where} has no `{key}` field; use the official meta_expressions.json")
    if not isinstance(mapping[key], kind):
        raise InputError(f"{where}: `{key}` is {type(mapping[key]).__name__}, not {kind.__name__}")
    return mapping[key]


def expression_order(expression_id: str) -> tuple:
    """Numeric ids in numeric order, then the others in text order (a mix of both never fails to sort)."""
    numeric = expression_id.isascii() and expression_id.isdigit()
    return (0, int(expression_id), "") if numeric else (1, 0, expression_id)


def ytvos_items(root: Path, output: Path) -> list[Item]:
    """Every video of a Ref-YouTube-VOS split with its expressions, writing the submission layout
    OUT/Annotations/<video>/<expression id>/<frame>.png. A missing field of meta_expressions.json
    is exit 2; a video whose id or expression ids cannot be folder names is that video's error."""
    meta_path = ytvos_expressions(root)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{meta_path} is not valid JSON ({exc}); use the official meta_expressions.json") from None
    videos = _field(meta, "videos", str(meta_path), dict)
    frames = next((d for d in (root / "valid" / "JPEGImages", root / "JPEGImages") if d.is_dir()), None)
    if frames is None:
        raise InputError(f"{root} has meta_expressions.json but no valid/JPEGImages folder; pass the dataset root")
    annotations = output / "Annotations"
    items = []
    for video in sorted(videos):
        where = f"{meta_path}: video {video!r}"
        expressions = _field(videos[video], "expressions", where, dict)
        texts = {
            i: _field(expression, "exp", f"{where}, expression {i!r}", object) for i, expression in expressions.items()
        }
        try:
            ids = tuple(sorted(expressions, key=expression_order))
            for expression_id in ids:
                safe_name(expression_id, f"{where}: expression id")
            if not all(isinstance(texts[i], str) and texts[i].strip() for i in ids):
                bad = next(i for i in ids if not (isinstance(texts[i], str) and texts[i].strip()))
                raise InputError(f"{where}, expression {bad!r}: `exp` is {json.dumps(texts[bad])[:60]}, not a text")
            if not ids:
                raise InputError(f"{where} has no expressions; nothing to segment")
            items.append(
                Item(
                    video,
                    child(frames, video, f"{meta_path}: video id"),
                    texts=tuple(texts[i] for i in ids),
                    ids=ids,
                    masks=child(annotations, video, f"{meta_path}: video id"),
                )
            )
        except InputError as error:
            items.append(failed(video, error))
    return items


# --- from the command line -------------------------------------------------------------------


def named_items(paths: list[Path]) -> Iterator[tuple[str, Path, Item | None]]:
    """(name, path, None) per input, or (name, path, failed item) where its stem is no safe name."""
    for name, path in zip(unique_names(paths), paths):
        problem = name_problem(name)
        yield name, path, (failed(name or str(path), f"input {path}: its name {name!r} {problem}") if problem else None)


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
    return [bad or Item(name, path, texts=tuple(texts)) for name, path, bad in named_items(paths)]


def propagate_items(
    inputs: list[Path], mask: Path | None, manifest: Path | None, out: Path | None, prompts: bool = False
) -> list[Item] | None:
    """The items of `rvos propagate`, or None for one plain video (the single-run command). With
    several inputs, --mask is a folder holding `<name>.png` (or a `<name>/` folder of masks) per video.
    `prompts`: objects are given by --box/--point, which only a single video takes."""
    if prompts and (manifest is not None or len(inputs) != 1 or expand_inputs(inputs) != inputs):
        raise InputError(
            "--box and --point give objects of one video; for a batch, draw them in masks (--mask, or a manifest)"
        )
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
        if mask is None and not prompts:
            raise InputError(
                "give the first frame's label mask with --mask (a PNG, or a folder of masks), "
                "or the objects by --box/--point (models that take them)"
            )
        return None
    if mask is None or not mask.is_dir():
        raise InputError(
            "with several videos, --mask is a folder holding <video name>.png (or a <video name>/ "
            "folder of masks) for each; or use --manifest"
        )
    items = []
    for name, path, bad in named_items(paths):
        if bad is not None:
            items.append(bad)
            continue
        # A missing mask fails that video alone, when its turn comes.
        found = next((m for m in (mask / name, mask / f"{name}.png") if m.exists()), mask / f"{name}.png")
        items.append(Item(name, path, mask=found))
    return items
