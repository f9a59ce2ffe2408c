"""The `rvos` command line: Typer commands only; the work happens in rvos_cli.pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rvos_cli.errors import InputError
from rvos_cli.ui import Reporter, handle_errors

EPILOG = (
    "Exit codes: 0 success, 2 bad arguments or input, 3 missing weights "
    "(run the `rvos download` command printed), 4 download or verification failure, 130 interrupted."
)

app = typer.Typer(
    name="rvos",
    help="Video object segmentation from the command line: referring (text) and first-frame-mask propagation.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts use [brackets] literally: [default: ...], [hh:]mm:ss
)


# Options shared by the commands that read a video.
PRECISION = typer.Option("auto", "--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16.")
FPS = typer.Option(None, "--fps", help="Frame rate of a frames folder [default: 24]; for a video, used only if the file has none.")
START = typer.Option(None, "--start", help="Start time, seconds or [hh:]mm:ss[.ms].")
END = typer.Option(None, "--end", help="End time, seconds or [hh:]mm:ss[.ms].")
MAX_SECONDS = typer.Option(10.0, "--max-seconds", help="Keep at most this many seconds when --end is not given (0 = all).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress or notes.")
JSON_SUMMARY = typer.Option(False, "--json", help="Print one JSON summary on stdout.")


@app.command(epilog=EPILOG)
@handle_errors
def refer(
    input: Path = typer.Argument(..., help="Video file or folder of frames.", show_default=False),
    text: List[str] = typer.Option(..., "--text", "-t", help="A text query; repeat for more (query 1 blue, 2 red, ...).", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Overlay MP4 [default: ./<input stem>.refer.mp4]."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Also write DIR/<query index>/<frame>.png masks (0/255)."),
    weights: str = typer.Option("mttr-ytvos", "--weights", help="Installed weights to use (see `rvos models`)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="An MTTR checkpoint file; overrides --weights."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Folder with RoBERTa's vocab.json and merges.txt [default: from --weights]."),
    size: int = typer.Option(360, "--size", help="Short side of the model input in pixels."),
    max_size: int = typer.Option(640, "--max-size", help="Upper bound on the long side of the model input."),
    window: int = typer.Option(24, "--window", help="Frames per inference window."),
    overlap: int = typer.Option(6, "--overlap", help="Frames shared by consecutive windows (the later window wins)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = PRECISION,
    fps: Optional[float] = FPS,
    start: Optional[str] = START,
    end: Optional[str] = END,
    max_seconds: float = MAX_SECONDS,
    legend: bool = typer.Option(False, "--legend", help="Write each query's text in its colour on a band at the top of the video."),
    json_output: bool = JSON_SUMMARY,
    quiet: bool = QUIET,
) -> None:
    """Segment the objects that text queries describe (MTTR)."""
    from rvos_cli.pipelines.refer import ReferRequest, run_refer

    reporter = Reporter(json_mode=json_output, quiet=quiet)
    request = ReferRequest(
        input=input, texts=text, output=output, masks_dir=masks, weights=weights, checkpoint=checkpoint,
        tokenizer=tokenizer, size=size, max_size=max_size, window=window, overlap=overlap, device=device,
        precision=precision, fps=fps, start=start, end=end, max_seconds=max_seconds, legend=legend,
    )
    summary = run_refer(request, reporter)
    lines = [f"wrote {summary['output']}" + (f" and masks in {summary['masks']}" if summary["masks"] else "")]
    lines += [f"  query {q['index'] + 1} ({q['color']}): {q['text']}" for q in summary["queries"]]
    reporter.result(summary, "\n".join(lines))


@app.command(epilog=EPILOG)
@handle_errors
def propagate(
    input: Path = typer.Argument(..., help="Video file or folder of frames.", show_default=False),
    mask: Path = typer.Option(..., "--mask", "-m", help="First kept frame's label PNG (palette or grayscale ids), or a folder of <frame>.png masks whose later files add objects.", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for the per-frame palette PNGs [default: <input stem>.masks beside the input]."),
    video: Optional[Path] = typer.Option(None, "--video", help="Also write an overlay MP4 here."),
    model: str = typer.Option("auto", "--model", help="flow (no weights), rdevos, or auto: rdevos when its weights are installed or --weights/--checkpoint is given, else flow."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Installed weights for a learned model (see `rvos models`)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A checkpoint file for a learned model; overrides --weights."),
    size: Optional[int] = typer.Option(None, "--size", help="Short side in pixels the model works at [default: the model's own, 480]."),
    mem_every: Optional[int] = typer.Option(None, "--mem-every", help="rdevos: add a memory frame every N frames."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="rdevos: memory entries each pixel reads."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (flow always runs on the CPU)."),
    precision: str = PRECISION,
    fps: Optional[float] = FPS,
    start: Optional[str] = START,
    end: Optional[str] = END,
    max_seconds: float = MAX_SECONDS,
    json_output: bool = JSON_SUMMARY,
    quiet: bool = QUIET,
) -> None:
    """Propagate a first-frame label mask through a video."""
    from rvos_cli.pipelines.propagate import PropagateRequest, run_propagate

    reporter = Reporter(json_mode=json_output, quiet=quiet)
    options = {"weights": weights, "checkpoint": checkpoint, "size": size, "mem_every": mem_every,
               "top_k": top_k, "device": device, "precision": precision}
    request = PropagateRequest(input=input, mask=mask, output=output, video=video, model=model, options=options,
                               fps=fps, start=start, end=end, max_seconds=max_seconds)
    summary = run_propagate(request, reporter)
    outputs = summary["outputs"]
    reporter.result(summary, f"wrote {summary['frames']} masks to {outputs['masks']}"
                             + (f" and {outputs['video']}" if outputs["video"] else "") + f" (model {summary['model']})")


@app.command(epilog=EPILOG)
@handle_errors
def sample(
    output: Path = typer.Argument(Path("clip.mp4"), help="MP4 to write; its first-frame mask goes beside it as <stem>.mask.png."),
    seconds: float = typer.Option(3.0, "--seconds", help="Length of the clip."),
    fps: float = typer.Option(24.0, "--fps", help="Frame rate."),
    width: int = typer.Option(320, "--width", help="Frame width in pixels."),
    height: int = typer.Option(240, "--height", help="Frame height in pixels."),
    audio: bool = typer.Option(True, "--audio/--no-audio", help="Add a quiet 440 Hz tone as the audio track."),
) -> None:
    """Write a synthetic clip (two moving shapes) and its first-frame mask, to try `rvos propagate` on."""
    from rvos_cli.pipelines.sample import run_sample

    mask = run_sample(output, seconds=seconds, fps=fps, width=width, height=height, audio=audio)
    typer.echo(f"wrote {output} and {mask}\nnext: rvos propagate {output} --mask {mask} "
               f"-o {output.with_suffix('.masks')} --video {output.with_suffix('.overlay.mp4')}")


@app.command(epilog=EPILOG)
@handle_errors
def download(
    names: Optional[List[str]] = typer.Argument(None, help="Registry names, e.g. mttr-ytvos (see `rvos models`).", show_default=False),
    all_entries: bool = typer.Option(False, "--all", help="Install every entry of the registry."),
    sources: Optional[List[Path]] = typer.Option(None, "--from", help="Install a file (or a folder of files) fetched by hand instead of downloading it; verified the same way. Needs exactly one NAME."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (also: RVOS_OFFLINE=1): a no-op when installed, else exit 3."),
    keep_original: bool = typer.Option(False, "--keep-original", help="Keep the original checkpoint beside model.safetensors."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Weights cache (default: $RVOS_HOME, else $XDG_CACHE_HOME/rvos, else ~/.cache/rvos)."),
    registry: Optional[Path] = typer.Option(None, "--registry", help="A weights.yaml adding or overriding entries (also: RVOS_REGISTRY)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Download official weights, verify their sha256, convert them to safetensors in the cache."""
    from rvos_cli.weights import install, load_registry, registry_entry

    if all_entries == bool(names):
        raise InputError("name the weights to install (e.g. `rvos download mttr-ytvos`) or pass --all, not both")
    if sources and (all_entries or len(names) != 1):
        raise InputError("--from installs the files of exactly one NAME; run one `rvos download NAME --from FILE` per entry")
    reporter = Reporter(json_mode=json_output)
    entries = list(load_registry(registry).values()) if all_entries else [registry_entry(n, registry) for n in names]
    results = [
        install(entry, cache_dir, sources, offline, keep_original, show_progress=reporter.interactive, note=reporter.note)
        for entry in entries
    ]
    reporter.result({"weights": results}, human="\n".join(f"{r['name']}: {r['status']} in {r['path']}" for r in results))


@app.command(epilog=EPILOG)
@handle_errors
def models(
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Weights cache (default: $RVOS_HOME, else $XDG_CACHE_HOME/rvos, else ~/.cache/rvos)."),
    registry: Optional[Path] = typer.Option(None, "--registry", help="A weights.yaml adding or overriding entries (also: RVOS_REGISTRY)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """List the registry's weights: task, size, installed or not, and where."""
    from rich.console import Console

    from rvos_cli.weights import cache_root, describe, load_registry
    from rvos_cli.weights.display import models_table

    rows = [describe(entry, cache_dir) for entry in load_registry(registry).values()]
    if json_output:
        Reporter(json_mode=True).result({"cache": str(cache_root(cache_dir)), "models": rows})
    else:
        Console().print(models_table(rows))


@app.command(epilog=EPILOG)
@handle_errors
def bench(
    task: str = typer.Argument(..., help="refer or propagate.", show_default=False),
    model: str = typer.Option("auto", "--model", help="propagate: auto, rdevos or flow (refer is always MTTR)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Installed weights to use [default: any installed, else random weights]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16."),
    frames: int = typer.Option(24, "--frames", help="Frames in the generated clip."),
    size: Optional[str] = typer.Option(None, "--size", help="HxW of the generated clip [default: 360x640 refer, 480x854 propagate]."),
    window: int = typer.Option(24, "--window", help="refer: frames per window."),
    queries: int = typer.Option(2, "--queries", help="refer: text queries per window."),
    video: Optional[Path] = typer.Option(None, "--video", help="refer: bench on this video instead of a generated clip."),
    repeat: int = typer.Option(3, "--repeat", help="Measured runs (after the warm-up)."),
    warmup: int = typer.Option(1, "--warmup", help="Unmeasured runs first."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch [default: torch's choice]."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Measure speed (model alone and end to end) and peak memory on a generated clip."""
    from rich.console import Console

    from rvos_cli.pipelines.bench import BenchRequest, bench_table, parse_size, run_bench

    reporter = Reporter(json_mode=json_output)
    request = BenchRequest(task=task, model=model, weights=weights, device=device, precision=precision, frames=frames,
                           size=parse_size(size), window=window, queries=queries, video=video, repeat=repeat,
                           warmup=warmup, threads=threads)
    summary = run_bench(request, reporter)
    if json_output:
        reporter.result(summary)
    else:
        Console().print(bench_table(summary))


@app.command("eval", epilog=EPILOG)
@handle_errors
def evaluate(
    pred: Path = typer.Argument(..., help="Predicted masks: <video>/<frame>.png (with --referring <video>/<query>/<frame>.png).", show_default=False),
    gt: Path = typer.Argument(..., help="Ground-truth masks in the same layout, e.g. DAVIS/Annotations/480p.", show_default=False),
    referring: bool = typer.Option(False, "--referring", help="Score binary referring masks: mIoU, oIoU, precision@K, J&F per query."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Also write the per-video (or per-query) table to this CSV file."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no table (e.g. with --csv)."),
) -> None:
    """Score predicted masks against ground truth (DAVIS 2017 J&F, or referring metrics)."""
    from rich.console import Console

    from rvos_cli.eval import davis_tracks, evaluate_davis, evaluate_referring, referring_tracks, scored_frames
    from rvos_cli.eval import report
    from rvos_cli.video.outputs import check_output

    if csv_path:
        csv_path = check_output(csv_path, [pred, gt], "--csv")  # before the work, and never over a mask
    reporter = Reporter(json_mode=json_output, quiet=quiet)
    if referring:
        tracks = referring_tracks(pred, gt)
        with reporter.progress("evaluating", sum(len(t.gt_frames) for t in tracks)) as advance:
            result = evaluate_referring(tracks, advance)
        header, rows, tables = report.REFERRING_HEADER, report.referring_rows(result), [
            report.referring_table(result), report.referring_query_table(result)]
    else:
        tracks = davis_tracks(pred, gt)
        with reporter.progress("evaluating", sum(len(scored_frames(t)) for t in tracks)) as advance:
            result = evaluate_davis(tracks, advance)
        for warning in result.warnings:
            reporter.warn(warning)
        header, rows, tables = report.DAVIS_HEADER, report.davis_rows(result), [report.davis_table(result)]
    if csv_path:
        report.write_csv(csv_path, header, rows)
    if json_output:
        reporter.result(result.to_json())
    elif not quiet:
        for table in tables:
            Console().print(table)


def main() -> None:
    app(prog_name="rvos")


if __name__ == "__main__":
    main()
