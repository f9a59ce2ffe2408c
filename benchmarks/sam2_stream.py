"""Streamed SAM 2.1 / SAM 3 tracker on the CPU: propagator frames/s and peak memory against clip length (issue 21).

Random weights from the real architecture (`rvos_cli.models.sam2.config_for`: no download), a
generated 854x480 clip (two textured ellipses drifting over a textured background, drawn frame by frame
so the clip itself never sits in memory), both objects given by mask on frame 0. Each clip length runs
in its own process, so its peak RSS (`ru_maxrss`) is its own; the RSS is also sampled after every
frame. "Propagator" is `Sam2Propagator.start/step` on decoded frames: preprocessing, the image
encoder, each object's memory attention, mask decoder and memory encoder, the logits upsampled to
480p and the label map; no decoding or encoding of video files.

    python benchmarks/sam2_stream.py --model hiera-tiny --frames 24 240
    python benchmarks/sam2_stream.py --model hiera-tiny --image-size 256 --frames 24 240
    python benchmarks/sam2_stream.py --model hiera-large --frames 6 --warmup 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

HEIGHT, WIDTH = 480, 854


def frame_at(t: int, rng_seed: int = 0) -> np.ndarray:
    """Frame t of the generated clip [480, 854, 3] uint8 (deterministic, drawn on demand)."""
    rng = np.random.default_rng(rng_seed)
    background = rng.integers(40, 200, (-(-HEIGHT // 8), -(-WIDTH // 8), 3), dtype=np.uint8)
    frame = np.kron(background, np.ones((8, 8, 1), np.uint8))[:HEIGHT, :WIDTH]
    frame = np.roll(frame, t, axis=1)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    for cx, cy, colour in ((200 + 2 * t % 400, 240, (230, 60, 40)), (600 - t % 300, 180 + t % 60, (40, 90, 220))):
        inside = ((xx - cx) / 90.0) ** 2 + ((yy - cy) / 60.0) ** 2 <= 1
        frame[inside] = colour
        frame[inside & ((xx + yy) % 7 == 0)] = 255
    return frame


def first_labels() -> np.ndarray:
    frame = frame_at(0)
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    labels[(frame == (230, 60, 40)).all(axis=2)] = 1
    labels[(frame == (40, 90, 220)).all(axis=2)] = 2
    return labels


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def with_image_size(config, size: int):
    """A SAM 2 config at a `size` x `size` input instead of 1024 (same layers; 1/16 the image tokens at 256):
    the feature maps, the memory attention's rotary table and the prompt encoder follow."""
    config.image_size = size
    config.vision_config.backbone_config.image_size = [size, size]
    config.vision_config.backbone_feature_sizes = [[size // 4] * 2, [size // 8] * 2, [size // 16] * 2]
    config.prompt_encoder_config.image_size = size
    config.memory_attention_rope_feat_sizes = [size // 16] * 2
    return config


def run_one(model_name: str, frames: int, warmup: int, threads: int, image_size: int | None = None) -> dict:
    """One clip in this process: timings and memory as a dict."""
    import torch

    from rvos_cli.models.sam2 import Sam2Propagator, config_for, random_model

    torch.set_num_threads(threads)
    config = config_for(model_name)
    if image_size:
        config = with_image_size(config, image_size)
    model = random_model(config)
    propagator = Sam2Propagator(model)
    rss_loaded = rss_mb()
    seconds, cpu_seconds, rss = [], [], []
    labels = first_labels()
    for t in range(frames):
        frame = frame_at(t)
        start, cpu_start = time.perf_counter(), time.process_time()
        if t == 0:
            propagator.start(frame, labels, num_frames=frames)
        else:
            propagator.step(frame)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        rss.append(rss_mb())
    timed = seconds[warmup:]
    return {
        "model": model_name,
        "image_size": model.config.image_size,
        "frames": frames,
        "threads": threads,
        "frames_per_s": len(timed) / sum(timed) if timed else None,
        "seconds_per_frame_median": float(np.median(timed)) if timed else None,
        # CPU time is what a busy shared machine distorts least (with one thread, ~ the wall time on a quiet core)
        "cpu_seconds_per_frame_median": float(np.median(cpu_seconds[warmup:])) if timed else None,
        "rss_loaded_mb": round(rss_loaded),
        "rss_after_frame_mb": {
            str(i + 1): round(rss[i]) for i in sorted({0, min(15, frames - 1), min(23, frames - 1), frames - 1})
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "held_frames": len(propagator.held_frames()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="hiera-tiny", help="hiera-tiny, hiera-small, hiera-base-plus, hiera-large, sam3-tracker"
    )
    parser.add_argument("--frames", type=int, nargs="+", default=[24, 240], help="clip lengths, one process each")
    parser.add_argument("--warmup", type=int, default=1, help="frames left out of the timing (the first runs slower)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image-size", type=int, help="a smaller square input (SAM 2 sizes only), e.g. 256")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.model, args.frames[0], args.warmup, args.threads, args.image_size)))
        return
    results = []
    for frames in args.frames:
        command = [sys.executable, __file__, "--one", "--model", args.model, "--frames", str(frames)]
        command += ["--warmup", str(args.warmup), "--threads", str(args.threads)]
        command += ["--image-size", str(args.image_size)] if args.image_size else []
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    header = [
        "model",
        "input",
        "frames",
        "threads",
        "frames/s",
        "s/frame",
        "CPU s/frame",
        "RSS after frame 1/16/24/last",
    ]
    print("| " + " | ".join(header + ["peak RSS"]) + " |")
    print("|" + " --- |" * (len(header) + 1))
    for r in results:
        after = " / ".join(f"{v} MB" for v in r["rss_after_frame_mb"].values())
        fps = f"{r['frames_per_s']:.3f}" if r["frames_per_s"] else "-"
        median = f"{r['seconds_per_frame_median']:.2f}" if r["seconds_per_frame_median"] else "-"
        cpu = f"{r['cpu_seconds_per_frame_median']:.2f}" if r["cpu_seconds_per_frame_median"] else "-"
        size = f"{r['image_size']}x{r['image_size']}"
        cells = [r["model"], size, r["frames"], r["threads"], fps, median, cpu, after, f"{r['peak_rss_mb']} MB"]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
