"""`rvos train` learns: MTTR from random weights on a synthetic referring dataset (coloured shapes, "the red
circle"), a small configuration on the CPU. Prints the validation metrics of the random weights and of the
trained ones, and the loss at the start and at the end, as a JSON line.

    python benchmarks/train_synthetic.py --steps 200 --out /tmp/train-bench

Recorded in docs/benchmarks.md ("Training").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("/tmp/rvos-train-bench"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from rvos_cli.models.registry import MODELS
    from rvos_cli.models.tokenizer import RobertaTokenizer, write_stand_in_tokenizer
    from rvos_cli.train.datasets import ReferringDataset, detect
    from rvos_cli.train.recipe import recipe
    from rvos_cli.train.synthetic import write_synthetic_dataset
    from rvos_cli.train.transforms import Transforms
    from rvos_cli.train.validate import validate

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = write_synthetic_dataset(args.out / "data", train_videos=16, valid_videos=4, frames=6, size=(64, 96))
    tokenizer_dir = write_stand_in_tokenizer(args.out / "tokenizer")
    small = ["--window", "2", "--size", "64", "--max-size", "96", "--batch-size", "1", "--workers", "1"]

    def evaluate(source) -> dict:
        reader = detect(data, print)
        refs = reader.samples("valid", 2, 42)
        dataset = ReferringDataset(reader, "valid", refs, 2, Transforms((64,), 96, flip=False), 42, train=False)
        network = recipe("mttr").network(source, seed=42)
        return validate(network, dataset, RobertaTokenizer(tokenizer_dir), "fp32")

    before = evaluate(None)
    run_dir = args.out / "run"
    command = [
        sys.executable, "-m", "rvos_cli", "train", str(data), "-o", str(run_dir), "--tokenizer", str(tokenizer_dir),
        *small, "--epochs", "100", "--max-steps", str(args.steps), "--threads", str(args.threads), "--no-val",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    steps = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    losses = [s["loss"] for s in steps if s["event"] == "step"]
    after = evaluate(str(run_dir / "model.safetensors"))
    keys = ("mean_iou", "overall_iou", "mAP 0.5:0.95", "P@0.5")
    print(
        json.dumps(
            {
                "steps": len(losses),
                "seconds": round(seconds, 1),
                "loss_first_10": sum(losses[:10]) / 10,
                "loss_last_10": sum(losses[-10:]) / 10,
                "random_weights": {k: before.get(k) for k in keys},
                "trained": {k: after.get(k) for k in keys},
                "model": MODELS["mttr"].title,
            }
        )
    )


if __name__ == "__main__":
    main()
