"""The `rvos` command line: Typer declarations only; the work happens in rvos_cli.pipelines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer

try:  # typer >= 0.2x runs on its own copy of click: its exception classes are the ones raised
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
from typer.core import TyperArgument, TyperGroup

from rvos_cli.errors import EXIT_BAD_INPUT, EXIT_CODES, EXIT_INTERRUPTED
from rvos_cli.models.registry import model_list
from rvos_cli.ui import Reporter, handle_errors, printable

EPILOG = (
    "Exit codes: "
    + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
    + ". Errors are one line on stderr starting with `error: `; outputs appear only when complete."
)


class RvosGroup(TyperGroup):
    """Click's own usage errors (missing option, unknown option, bad value) as one `error:` line, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(
                args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra
            )
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except click.exceptions.UsageError as exc:
            where = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
            message = " ".join(exc.format_message().split()).rstrip(".")
            click.echo(f"error: {printable(message)}{where}", err=True)
            code = EXIT_BAD_INPUT
        except click.exceptions.ClickException as exc:
            click.echo(f"error: {printable(exc.format_message())}", err=True)
            code = exc.exit_code
        except typer.Abort:
            click.echo("error: interrupted", err=True)
            code = EXIT_INTERRUPTED
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


# An argument's help shows its metavar alone (INPUT...), not typer's Python type (`<list[Path]>`).
TyperArgument.display_type_rich = lambda self, ctx: None

app = typer.Typer(
    cls=RvosGroup,
    name="rvos",
    help="Video object segmentation from the command line: referring (text) and first-frame-mask propagation.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts use [brackets] literally: [default: ...], [hh:]mm:ss
)

# Options several commands share.
Device = Annotated[str, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps.")]
Precision = Annotated[
    str,
    typer.Option(
        "--precision",
        metavar="PRECISION",
        help="auto (bf16 on CUDA, fp32 on CPU), fp32 (TF32 off), tf32, bf16 or fp16.",
    ),
]
Compile = Annotated[
    bool,
    typer.Option(
        "--compile",
        help="torch.compile the model's fixed-shape stages: faster windows after a slow first one (minutes "
        "on a CPU); for GPU runs of many frames.",
    ),
]
Fps = Annotated[
    Optional[float],
    typer.Option(
        "--fps",
        metavar="FPS",
        help="Frame rate of a frames folder [default: 24]; for a video, used only if the file has none.",
    ),
]
Start = Annotated[
    Optional[str], typer.Option("--start", metavar="TIME", help="Start time, seconds or [hh:]mm:ss[.ms].")
]
End = Annotated[Optional[str], typer.Option("--end", metavar="TIME", help="End time, seconds or [hh:]mm:ss[.ms].")]
MaxSeconds = Annotated[
    float,
    typer.Option(
        "--max-seconds", metavar="SECONDS", help="Keep at most this many seconds when --end is not given (0 = all)."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")]
Checkpoint = Annotated[
    Optional[Path],
    typer.Option(
        "--checkpoint",
        metavar="PATH",
        help="Weights fetched by hand: a checkpoint file, or a Hugging Face model folder for models from "
        "transformers; overrides the files of --weights.",
    ),
]
CacheDir = Annotated[
    Optional[Path],
    typer.Option(
        "--cache-dir",
        metavar="DIR",
        help="Weights cache (default: $RVOS_HOME, else $XDG_CACHE_HOME/rvos, else ~/.cache/rvos).",
    ),
]
Weights = Annotated[
    Optional[str],
    typer.Option(
        "--weights",
        metavar="NAME",
        help="Installed weights to use (see `rvos models`) [default: the model's first installed].",
    ),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("rvos-cli")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        typer.echo(f"rvos {number}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version),
    ] = False,
) -> None:
    pass


Registry = Annotated[
    Optional[Path],
    typer.Option(
        "--registry", metavar="FILE", help="A weights.yaml adding or overriding entries (also: RVOS_REGISTRY)."
    ),
]
# Batches: several inputs, a folder of videos, a manifest or a dataset root (docs/usage.md, "Batches").
Inputs = Annotated[
    Optional[List[Path]],
    typer.Argument(
        help="Video files or folders of frames; several, a folder of videos or a dataset root make a batch.",
        show_default=False,
        metavar="INPUT",
    ),
]
Manifest = Annotated[
    Optional[Path],
    typer.Option(
        "--manifest",
        metavar="FILE",
        help="A CSV or JSON Lines file naming each video of a batch and its inputs/outputs.",
    ),
]
Shard = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        metavar="I/N",
        help="I/N, counted from 1 as Playwright's and Jest's --shard: the I-th of N parts of the batch sorted by "
        "name (1/4 ... 4/4 split it in four) [default: the Slurm array task, else all].",
    ),
]
SkipExisting = Annotated[
    bool, typer.Option("--skip-existing", help="Batch: skip videos whose outputs already exist (resume a batch).")
]


@app.command(epilog=EPILOG, short_help="Segment what text queries describe, in a video or a batch.")
@handle_errors
def refer(
    inputs: Inputs = None,
    text: Annotated[
        Optional[List[str]],
        typer.Option(
            "--text",
            "-t",
            metavar="TEXT",
            help="A text query; repeat for more (query 1 blue, 2 red, ...).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Overlay MP4 [default: <input stem>.refer.mp4 beside the input]; for a batch, the folder of "
            "<name>.refer.mp4 (a Ref-YouTube-VOS root: of Annotations/).",
        ),
    ] = None,
    masks: Annotated[
        Optional[Path],
        typer.Option(
            "--masks",
            metavar="DIR",
            help="Also write DIR/<query index>/<frame>.png masks (0/255); for a batch, DIR/<name>/...",
        ),
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            metavar="MODEL",
            help=f"{model_list('refer')} [default: the model of --weights, else the first].",
        ),
    ] = None,
    weights: Weights = None,
    checkpoint: Checkpoint = None,
    tokenizer: Annotated[
        Optional[Path],
        typer.Option(
            "--tokenizer",
            metavar="DIR",
            help="Folder with RoBERTa's vocab.json and merges.txt [default: from --weights].",
        ),
    ] = None,
    size: Annotated[
        Optional[int],
        typer.Option(
            "--size", metavar="PIXELS", help="Short side of the model input in pixels [default: the model's, 360]."
        ),
    ] = None,
    max_size: Annotated[
        Optional[int],
        typer.Option(
            "--max-size",
            metavar="PIXELS",
            help="Upper bound on the long side of the model input "
            "[default: the model's: 640 for MTTR and SOC, none for ReferFormer].",
        ),
    ] = None,
    window: Annotated[
        Optional[int],
        typer.Option(
            "--window",
            metavar="FRAMES",
            help="Frames per inference window [default: the model's: 24 for MTTR, 36 for ReferFormer and SOC].",
        ),
    ] = None,
    overlap: Annotated[
        int,
        typer.Option(
            "--overlap", metavar="FRAMES", help="Frames shared by consecutive windows (the later window wins)."
        ),
    ] = 6,
    device: Device = "auto",
    precision: Precision = "auto",
    compile_model: Compile = False,
    fps: Fps = None,
    start: Start = None,
    end: End = None,
    max_seconds: Annotated[
        Optional[float],
        typer.Option(
            "--max-seconds",
            metavar="SECONDS",
            help="Keep at most this many seconds when --end is not given (0 = all) [default: 10; with --track "
            "the referring model reads the first 10 s and the tracker the whole video].",
        ),
    ] = None,
    track: Annotated[
        Optional[str],
        typer.Option(
            "--track",
            metavar="MODEL",
            help="Carry each text's object through the whole video with this tracker (sam2, sam3-tracker, or "
            "a weights name such as sam2.1-hiera-tiny), seeded where the referring model is most confident.",
        ),
    ] = None,
    track_checkpoint: Annotated[
        Optional[Path],
        typer.Option(
            "--track-checkpoint",
            metavar="DIR",
            help="The tracker's weights fetched by hand (a Hugging Face model folder); overrides its installed ones.",
        ),
    ] = None,
    legend: Annotated[
        bool, typer.Option("--legend", help="Write each query's text in its colour on a band at the top of the video.")
    ] = False,
    cache_dir: CacheDir = None,
    registry: Registry = None,
    manifest: Manifest = None,
    shard: Shard = None,
    skip_existing: SkipExisting = False,
    json_output: Json = False,
    quiet: Quiet = False,
) -> None:
    """Segment the objects that text queries describe, in one video or a batch."""
    from rvos_cli.pipelines.batch import BatchRequest, run_batch
    from rvos_cli.pipelines.items import refer_items
    from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions, WindowOptions, refer_options, track_options
    from rvos_cli.pipelines.shards import parse_shard, refuse_on_single_run

    runtime = RuntimeOptions(device, precision, compile_model)
    options = refer_options(
        model,
        weights,
        checkpoint=checkpoint,
        tokenizer=tokenizer,
        size=size,
        max_size=max_size,
        cache_dir=cache_dir,
        registry=registry,
    )
    windows = WindowOptions(options.default_window if window is None else window, overlap)
    clip = ClipOptions(fps, start, end, 10.0 if max_seconds is None else max_seconds)
    tracker = track_options(track, runtime, checkpoint=track_checkpoint, cache_dir=cache_dir, registry=registry)
    if tracker is not None:
        tracked_clip = ClipOptions(fps, start, end, 0.0 if max_seconds is None else max_seconds)
    reporter = Reporter(json_mode=json_output, quiet=quiet)
    items = refer_items(inputs or [], text or [], manifest, output)
    if items is not None:
        batch = BatchRequest(
            "refer",
            items,
            options,
            runtime,
            clip,
            windows,
            out=output,
            masks=masks,
            overlay=not any(item.ids for item in items),
            legend=legend,
            skip_existing=skip_existing,
            shard=parse_shard(shard),
            sources=(manifest,) if manifest else (),
            track=tracker,
            tracked_clip=tracked_clip if tracker else None,
        )
        summary = run_batch(batch, reporter)
        reporter.result(summary)
        raise typer.Exit(summary.exit_code)
    refuse_on_single_run(shard)
    from rvos_cli.pipelines.refer import ReferRequest, run_refer  # torch: only once the options are good

    request = ReferRequest(
        inputs[0],
        text or [],
        options,
        runtime,
        clip,
        windows,
        output=output,
        masks_dir=masks,
        legend=legend,
        track=tracker,
        tracked_clip=tracked_clip if tracker else None,
    )
    reporter.result(run_refer(request, reporter))


@app.command(epilog=EPILOG, short_help="Carry first-frame label masks through a video or a batch.")
@handle_errors
def propagate(
    inputs: Inputs = None,
    mask: Annotated[
        Optional[Path],
        typer.Option(
            "--mask",
            "-m",
            metavar="PATH",
            help="First kept frame's label PNG (palette or grayscale ids), "
            "or a folder of <frame>.png masks whose later files add objects; for a batch, a folder of "
            "<name>.png (or <name>/) per video.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Folder for the per-frame palette PNGs [default: <input stem>.masks beside the input]; "
            "for a batch, the folder of <name>/ results.",
        ),
    ] = None,
    video: Annotated[
        Optional[Path],
        typer.Option("--video", metavar="PATH", help="Also write an overlay MP4 here; for a batch, a folder."),
    ] = None,
    box: Annotated[
        Optional[List[str]],
        typer.Option(
            "--box",
            metavar="[ID:]X0,Y0,X1,Y1[@FRAME]",
            help="An object given by a box in pixels on FRAME [default: 0] (sam2, sam3-tracker); repeat for more. "
            "Without ID, objects take the ids after the mask's, in order.",
            show_default=False,
        ),
    ] = None,
    point: Annotated[
        Optional[List[str]],
        typer.Option(
            "--point",
            metavar="[ID:]X,Y[,L][;X,Y[,L]...][@FRAME]",
            help="An object given by points (L 1 on it, the default; 0 off it) on FRAME (sam2, sam3-tracker); "
            "repeat for more objects.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            metavar="MODEL",
            help=f"auto, {model_list('propagate')}. auto picks the best model whose weights are installed "
            "(or that --weights/--checkpoint names) for the device, else flow (no weights); its first note says "
            "which and why.",
        ),
    ] = "auto",
    weights: Annotated[
        Optional[str],
        typer.Option("--weights", metavar="NAME", help="Installed weights for a learned model (see `rvos models`)."),
    ] = None,
    checkpoint: Checkpoint = None,
    size: Annotated[
        Optional[int],
        typer.Option(
            "--size",
            metavar="PIXELS",
            help="Short side in pixels the model works at [default: the model's own, 480].",
        ),
    ] = None,
    mem_every: Annotated[
        Optional[int],
        typer.Option("--mem-every", metavar="N", help="rdevos: add a memory frame every N frames."),
    ] = None,
    top_k: Annotated[
        Optional[int], typer.Option("--top-k", metavar="K", help="rdevos: memory entries each pixel reads.")
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            "--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps (flow always runs on the CPU)."
        ),
    ] = "auto",
    precision: Precision = "auto",
    compile_model: Compile = False,
    fps: Fps = None,
    start: Start = None,
    end: End = None,
    max_seconds: MaxSeconds = 10.0,
    cache_dir: CacheDir = None,
    registry: Registry = None,
    manifest: Manifest = None,
    shard: Shard = None,
    skip_existing: SkipExisting = False,
    json_output: Json = False,
    quiet: Quiet = False,
) -> None:
    """Propagate a first-frame label mask through a video, or through each video of a batch."""
    from rvos_cli.models.registry import model_spec
    from rvos_cli.pipelines.batch import BatchRequest, run_batch
    from rvos_cli.pipelines.items import propagate_items
    from rvos_cli.pipelines.options import ClipOptions, RuntimeOptions, propagate_options
    from rvos_cli.pipelines.prompts import check_prompts, parse_prompts
    from rvos_cli.pipelines.propagate import PropagateRequest, run_propagate
    from rvos_cli.pipelines.shards import parse_shard, refuse_on_single_run

    runtime = RuntimeOptions(device, precision, compile_model)
    prompts = parse_prompts(box, point)
    options = propagate_options(
        model,
        runtime,
        prompts=tuple(dict.fromkeys(p.flag.removeprefix("--") for p in prompts)),
        weights=weights,
        checkpoint=checkpoint,
        size=size,
        mem_every=mem_every,
        top_k=top_k,
        cache_dir=cache_dir,
        registry=registry,
    )
    clip = ClipOptions(fps, start, end, max_seconds)
    reporter = Reporter(json_mode=json_output, quiet=quiet)
    check_prompts(model_spec(options.model), prompts)
    items = propagate_items(inputs or [], mask, manifest, output, prompts=bool(prompts))
    if items is not None:
        batch = BatchRequest(
            "propagate",
            items,
            options,
            runtime,
            clip,
            out=output,
            video=video,
            skip_existing=skip_existing,
            shard=parse_shard(shard),
            sources=(manifest,) if manifest else (),
        )
        summary = run_batch(batch, reporter)
        reporter.result(summary)
        raise typer.Exit(summary.exit_code)
    refuse_on_single_run(shard)
    request = PropagateRequest(inputs[0], mask, options, runtime, clip, output=output, video=video, prompts=prompts)
    reporter.result(run_propagate(request, reporter))


@app.command(epilog=EPILOG, short_help="Write a synthetic clip and its first-frame mask to try rvos on.")
@handle_errors
def sample(
    output: Annotated[
        Path,
        typer.Argument(metavar="OUTPUT", help="MP4 to write; its first-frame mask goes beside it as <stem>.mask.png."),
    ] = Path("clip.mp4"),
    seconds: Annotated[float, typer.Option("--seconds", metavar="SECONDS", help="Length of the clip.")] = 3.0,
    fps: Annotated[float, typer.Option("--fps", metavar="FPS", help="Frame rate.")] = 24.0,
    width: Annotated[int, typer.Option("--width", metavar="PIXELS", help="Frame width in pixels.")] = 320,
    height: Annotated[int, typer.Option("--height", metavar="PIXELS", help="Frame height in pixels.")] = 240,
    audio: Annotated[
        bool, typer.Option("--audio/--no-audio", help="Add a quiet 440 Hz tone as the audio track.")
    ] = True,
) -> None:
    """Write a synthetic clip (two moving shapes) and its first-frame mask, to try `rvos propagate` on."""
    from rvos_cli.pipelines.sample import run_sample

    Reporter().result(run_sample(output, seconds=seconds, fps=fps, width=width, height=height, audio=audio))


@app.command(epilog=EPILOG, short_help="Install pretrained weights into the cache, verified.")
@handle_errors
def download(
    names: Annotated[
        Optional[List[str]],
        typer.Argument(
            metavar="NAME...", help="Registry names, e.g. mttr-ytvos (see `rvos models`).", show_default=False
        ),
    ] = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Install every entry of the registry.")] = False,
    sources: Annotated[
        Optional[List[Path]],
        typer.Option(
            "--from",
            metavar="PATH",
            help="Install a file (or a folder of files) fetched by hand instead of downloading it; "
            "verified the same way. Needs exactly one NAME.",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Never touch the network (also: RVOS_OFFLINE=1): a no-op when installed, else exit 3."
        ),
    ] = False,
    keep_original: Annotated[
        bool, typer.Option("--keep-original", help="Keep the original checkpoint beside model.safetensors.")
    ] = False,
    cache_dir: CacheDir = None,
    registry: Registry = None,
    json_output: Json = False,
) -> None:
    """Download official weights, verify their sha256, convert them to safetensors in the cache."""
    from rvos_cli.pipelines.weights import run_download

    reporter = Reporter(json_mode=json_output)
    reporter.result(
        run_download(names or [], all_entries, sources, offline, keep_original, cache_dir, registry, reporter)
    )


@app.command(epilog=EPILOG, short_help="List the known weights: task, size, installed or not.")
@handle_errors
def models(cache_dir: CacheDir = None, registry: Registry = None, json_output: Json = False) -> None:
    """List the registry's weights: task, size, installed or not, and where."""
    from rvos_cli.pipelines.weights import run_models

    Reporter(json_mode=json_output).result(run_models(cache_dir, registry))


@app.command(epilog=EPILOG, short_help="Measure speed and peak memory, model alone and end to end.")
@handle_errors
def bench(
    task: Annotated[str, typer.Argument(metavar="TASK", help="refer or propagate.", show_default=False)],
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            metavar="MODEL",
            help=f"refer: {model_list('refer')} [default: the first]; propagate: auto, "
            f"{model_list('propagate')} [default: auto]; none: a no-op model, to measure the command's own cost.",
        ),
    ] = None,
    weights: Annotated[
        Optional[str],
        typer.Option(
            "--weights",
            metavar="NAME",
            help="Installed weights to use [default: any installed, else random weights].",
        ),
    ] = None,
    checkpoint: Checkpoint = None,
    backbone: Annotated[
        Optional[str],
        typer.Option(
            "--backbone",
            metavar="NAME",
            help="Random weights of this backbone or size (e.g. resnet50, video-swin-b) [default: the model's first].",
        ),
    ] = None,
    device: Device = "auto",
    precision: Precision = "auto",
    compile_model: Compile = False,
    frames: Annotated[int, typer.Option("--frames", metavar="N", help="Frames in the generated clip.")] = 24,
    size: Annotated[
        Optional[str],
        typer.Option(
            "--size", metavar="HxW", help="HxW of a generated clip that the model works on at that size (no resize)."
        ),
    ] = None,
    clip_size: Annotated[
        Optional[str],
        typer.Option(
            "--clip-size",
            metavar="HxW",
            help="HxW of the generated clip, resized as the command does (model input 360x640 refer, "
            "short side 480 propagate) [default: 720x1280].",
        ),
    ] = None,
    window: Annotated[
        Optional[int],
        typer.Option("--window", metavar="FRAMES", help="refer: frames per window [default: the model's own]."),
    ] = None,
    queries: Annotated[int, typer.Option("--queries", metavar="N", help="refer: text queries per window.")] = 2,
    video: Annotated[
        Optional[Path],
        typer.Option("--video", metavar="PATH", help="refer: bench on this video instead of a generated clip."),
    ] = None,
    repeat: Annotated[int, typer.Option("--repeat", metavar="N", help="Measured runs (after the warm-up).")] = 3,
    warmup: Annotated[int, typer.Option("--warmup", metavar="N", help="Unmeasured runs first.")] = 1,
    threads: Annotated[
        Optional[int],
        typer.Option("--threads", metavar="N", help="CPU threads for torch [default: torch's choice]."),
    ] = None,
    cache_dir: CacheDir = None,
    registry: Registry = None,
    json_output: Json = False,
) -> None:
    """Measure speed (model alone and end to end) and peak memory on a generated clip."""
    from rvos_cli.pipelines.bench import BenchRequest, bench_options, parse_size, run_bench

    runtime_options, model_options = bench_options(
        task, model, weights, device, precision, cache_dir, compile_model, registry, checkpoint
    )
    request = BenchRequest(
        task,
        model_options,
        runtime_options,
        frames,
        parse_size(size),
        parse_size(clip_size, "--clip-size"),
        window,
        queries,
        video,
        repeat,
        warmup,
        threads,
        backbone,
    )
    reporter = Reporter(json_mode=json_output)
    reporter.result(run_bench(request, reporter))


@app.command("eval", epilog=EPILOG, short_help="Score predicted masks against ground truth.")
@handle_errors
def evaluate(
    pred: Annotated[
        Path,
        typer.Argument(
            metavar="PRED",
            help="Predicted masks: <video>/<frame>.png (with --referring <video>/<query>/<frame>.png), or a COCO "
            "results JSON (RLE masks with scores) for A2D-Sentences / JHMDB-Sentences mask AP.",
            show_default=False,
        ),
    ],
    gt: Annotated[
        Path,
        typer.Argument(
            metavar="GT",
            help="Ground-truth masks in the same layout, e.g. DAVIS/Annotations/480p, or COCO-format ground truth.",
            show_default=False,
        ),
    ],
    referring: Annotated[
        bool, typer.Option("--referring", help="Score binary referring masks: mIoU, oIoU, precision@K, J&F per query.")
    ] = False,
    csv_path: Annotated[
        Optional[Path],
        typer.Option("--csv", metavar="FILE", help="Also write the per-video (or per-query) table to this CSV file."),
    ] = None,
    json_output: Json = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no table (e.g. with --csv).")
    ] = False,
) -> None:
    """Score predicted masks against ground truth (DAVIS 2017 J&F, referring metrics, or COCO mask AP)."""
    from rvos_cli.pipelines.evaluate import run_eval

    reporter = Reporter(json_mode=json_output, quiet=quiet)
    reporter.result(run_eval(pred, gt, referring, csv_path, reporter))


@app.command(epilog=EPILOG)
@handle_errors
def train(
    data: Annotated[
        Optional[Path],
        typer.Argument(
            help="Dataset root: Ref-YouTube-VOS (train/JPEGImages, train/Annotations, meta_expressions), "
            "A2D-Sentences or JHMDB-Sentences, in the original layouts [default with --resume: the run's].",
            show_default=False,
            metavar="DATA",
        ),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", metavar="DIR", help="Run folder for checkpoints and logs [default: runs/<date_time>]."
        ),
    ] = None,
    resume: Annotated[
        Optional[Path],
        typer.Option("--resume", metavar="DIR", help="Continue the run in this folder where it stopped."),
    ] = None,
    model: Annotated[str, typer.Option("--model", metavar="MODEL", help="The model to train (mttr).")] = "mttr",
    weights: Annotated[
        Optional[str],
        typer.Option("--weights", metavar="NAME", help="Installed weights to start from [default: random weights]."),
    ] = None,
    checkpoint: Checkpoint = None,
    tokenizer: Annotated[
        Optional[Path],
        typer.Option(
            "--tokenizer",
            metavar="DIR",
            help="Folder with RoBERTa's vocab.json and merges.txt [default: from --weights].",
        ),
    ] = None,
    device: Device = "auto",
    precision: Annotated[
        Optional[str],
        typer.Option(
            "--precision",
            metavar="PRECISION",
            help="auto (AMP fp16 with loss scaling on CUDA, fp32 on CPU), fp32, tf32, bf16, fp16.",
        ),
    ] = None,
    window: Annotated[
        Optional[int],
        typer.Option(
            "--window", metavar="FRAMES", help="Frames per sample [default: 12 Ref-YouTube-VOS, 8 A2D/JHMDB]."
        ),
    ] = None,
    epochs: Annotated[
        Optional[int], typer.Option("--epochs", metavar="N", help="[default: 30 Ref-YouTube-VOS, 70 A2D/JHMDB].")
    ] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option("--batch-size", metavar="N", help="Samples per step and GPU [default: 1 Ref-YouTube-VOS, 6 A2D]."),
    ] = None,
    size: Annotated[
        Optional[int], typer.Option("--size", metavar="PIXELS", help="Short side [default: 360, A2D/JHMDB 320].")
    ] = None,
    max_size: Annotated[
        Optional[int],
        typer.Option("--max-size", metavar="PIXELS", help="Bound on the long side [default: 640, A2D/JHMDB 576]."),
    ] = None,
    flip: Annotated[
        Optional[bool],
        typer.Option(
            "--flip/--no-flip", help="Horizontal flips swapping left/right in the text [default: the dataset's]."
        ),
    ] = None,
    lr: Annotated[
        Optional[float], typer.Option("--lr", metavar="LR", help="Learning rate of the rest [default: 1e-4].")
    ] = None,
    lr_backbone: Annotated[
        Optional[float], typer.Option("--lr-backbone", metavar="LR", help="[default: 1e-5].")
    ] = None,
    lr_text_encoder: Annotated[
        Optional[float], typer.Option("--lr-text-encoder", metavar="LR", help="If unfrozen [default: 5e-5].")
    ] = None,
    weight_decay: Annotated[
        Optional[float], typer.Option("--weight-decay", metavar="X", help="AdamW's [default: 1e-4].")
    ] = None,
    clip_max_norm: Annotated[
        Optional[float],
        typer.Option("--clip-max-norm", metavar="X", help="Gradient clipping, 0 = none [default: 0.1]."),
    ] = None,
    lr_milestones: Annotated[
        Optional[str],
        typer.Option(
            "--lr-milestones",
            metavar="EPOCHS",
            help="Epochs where the rate drops, e.g. 20 or 10,20 [default: 20, A2D 50].",
        ),
    ] = None,
    lr_gamma: Annotated[
        Optional[float], typer.Option("--lr-gamma", metavar="X", help="Factor at each milestone [default: 0.4].")
    ] = None,
    eos_coef: Annotated[
        Optional[float], typer.Option("--eos-coef", metavar="X", help="No-object weight [default: 0.1].")
    ] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", metavar="N", help="[default: 42].")] = None,
    dropout: Annotated[
        Optional[bool], typer.Option("--dropout/--no-dropout", help="Dropout and drop-path [default: on].")
    ] = None,
    max_steps: Annotated[
        Optional[int], typer.Option("--max-steps", metavar="N", help="Stop (resumably) after this many steps in all.")
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", metavar="N", help="Data loading processes [default: 2].")
    ] = None,
    threads: Annotated[
        Optional[int], typer.Option("--threads", metavar="N", help="CPU threads for torch [default: torch's choice].")
    ] = None,
    log_every: Annotated[
        Optional[int], typer.Option("--log-every", metavar="N", help="A JSON line every N steps [default: 1].")
    ] = None,
    validate: Annotated[
        Optional[bool], typer.Option("--val/--no-val", help="Validate after each epoch [default: on].")
    ] = None,
    cache_dir: CacheDir = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="A JSON line per logged step and epoch on stdout, then the summary.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Fine-tune a referring model (MTTR) on a dataset, as its original trainer does (docs/usage.md, Training)."""
    from rvos_cli.pipelines.train import TrainRequest, parse_milestones, run_train

    overrides = {
        "window": window,
        "epochs": epochs,
        "batch_size": batch_size,
        "size": size,
        "max_size": max_size,
        "flip": flip,
        "lr": lr,
        "lr_backbone": lr_backbone,
        "lr_text_encoder": lr_text_encoder,
        "weight_decay": weight_decay,
        "clip_max_norm": clip_max_norm,
        "lr_milestones": parse_milestones(lr_milestones),
        "lr_gamma": lr_gamma,
        "eos_coef": eos_coef,
        "seed": seed,
        "dropout": dropout,
        "max_steps": max_steps,
        "num_workers": workers,
        "log_every": log_every,
        "validate": validate,
        "precision": precision,
    }
    request = TrainRequest(
        data, output, resume, model, weights, checkpoint, tokenizer, cache_dir, device, overrides, threads
    )
    reporter = Reporter(json_mode=json_output, quiet=quiet)
    reporter.result(run_train(request, reporter))


def main(args: list[str] | None = None) -> None:
    """The `rvos` entry point: exits with the code of rvos_cli.errors.EXIT_CODES."""
    app(args=args, prog_name="rvos")


if __name__ == "__main__":
    main()
