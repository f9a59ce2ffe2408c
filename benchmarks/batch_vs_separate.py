"""Many short clips: one `rvos` process per clip against one batch process (issue 12).

    python benchmarks/batch_vs_separate.py [--clips 20] [--refer-clips 5] [--folder /tmp/rvos-batch]

Writes the clips (2 s, 320x240) and, for `refer`, an MTTR checkpoint with random weights in the
official layout and a stand-in tokenizer, then times `rvos propagate --model flow` and
`rvos refer` both ways. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.registry import MODELS
from rvos_cli.models.tokenizer import write_stand_in_tokenizer
from rvos_cli.video.synthetic import write_sample


def rvos(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "rvos_cli", *args, "--quiet"], check=True, capture_output=True)


def timed(run) -> float:
    begin = time.perf_counter()
    run()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--refer-clips", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/rvos-batch"))
    args = parser.parse_args()
    clips, masks = args.folder / "clips", args.folder / "masks"
    clips.mkdir(parents=True, exist_ok=True)
    masks.mkdir(exist_ok=True)
    for i in range(args.clips):
        mask = write_sample(clips / f"clip{i:02d}.mp4", seconds=2.0, fps=24, width=320, height=240, audio=False)
        mask.replace(masks / f"clip{i:02d}.png")
    videos = sorted(clips.glob("*.mp4"))
    out = args.folder / "out"
    (out / "separate").mkdir(parents=True, exist_ok=True)

    flow_separate = timed(
        lambda: [
            rvos(
                "propagate",
                str(v),
                "--mask",
                str(masks / f"{v.stem}.png"),
                "--model",
                "flow",
                "-o",
                str(out / "separate" / v.stem),
            )
            for v in videos
        ]
    )
    (out / "batch").mkdir(parents=True, exist_ok=True)
    flow_batch = timed(
        lambda: rvos("propagate", *map(str, videos), "--mask", str(masks), "--model", "flow", "-o", str(out / "batch"))
    )

    checkpoint = args.folder / "mttr.pth.tar"
    if not checkpoint.exists():
        torch.save({"model_state_dict": random_state_dict(MODELS["mttr"].layout("video_swin_t"))}, checkpoint)
    tokenizer = write_stand_in_tokenizer(args.folder / "tokenizer")
    model = ["--checkpoint", str(checkpoint), "--tokenizer", str(tokenizer), "--size", "240", "-t", "a yellow disc"]
    refer_videos = videos[: args.refer_clips]
    refer_separate = timed(
        lambda: [rvos("refer", str(v), *model, "-o", str(out / f"{v.stem}.refer.mp4")) for v in refer_videos]
    )
    refer_batch = timed(lambda: rvos("refer", *map(str, refer_videos), *model, "-o", str(out / "refer-batch")))
    print(
        json.dumps(
            {
                "propagate_flow": {
                    "clips": len(videos),
                    "separate_s": round(flow_separate, 1),
                    "batch_s": round(flow_batch, 1),
                },
                "refer_mttr": {
                    "clips": len(refer_videos),
                    "separate_s": round(refer_separate, 1),
                    "batch_s": round(refer_batch, 1),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
