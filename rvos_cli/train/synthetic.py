"""A small synthetic referring dataset in the Ref-YouTube-VOS layout: clips of coloured shapes moving over
a noisy background, each shape described as "the red circle", "the blue square", ... (train and valid
splits, both annotated). For tests and benchmarks of training; `write_synthetic_dataset` is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from rvos_cli.video.palette import write_palette_png

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")


def _draw(labels: np.ndarray, image: np.ndarray, shape: str, centre, radius: int, obj: int, colour) -> None:
    x, y = (int(round(c)) for c in centre)
    shape_mask = np.zeros(labels.shape, np.uint8)
    if shape == "circle":
        cv2.circle(shape_mask, (x, y), radius, 1, -1)
    elif shape == "square":
        cv2.rectangle(shape_mask, (x - radius, y - radius), (x + radius, y + radius), 1, -1)
    else:
        points = np.array([[x, y - radius], [x - radius, y + radius], [x + radius, y + radius]], np.int32)
        cv2.fillPoly(shape_mask, [points], 1)
    inside = shape_mask.astype(bool)
    labels[inside] = obj
    image[inside] = colour


def write_synthetic_dataset(
    root: str | Path,
    train_videos: int = 8,
    valid_videos: int = 2,
    frames: int = 6,
    size: tuple[int, int] = (64, 96),
    objects: int = 2,
    seed: int = 0,
) -> Path:
    """Write `root` (train/ and valid/ JPEGImages and Annotations, meta_expressions/<split>/meta_expressions.json)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = size
    for split, count in (("train", train_videos), ("valid", valid_videos)):
        videos = {}
        for v in range(count):
            name = f"{split}{v:03d}"
            kinds = rng.choice(len(COLOURS) * len(SHAPES), size=objects, replace=False)
            things = []
            for obj, kind in enumerate(kinds, start=1):
                colour = list(COLOURS)[kind // len(SHAPES)]
                shape = SHAPES[kind % len(SHAPES)]
                radius = int(rng.integers(min(h, w) // 8, min(h, w) // 5))
                start = rng.uniform((radius, radius), (w - radius, h - radius))
                velocity = rng.uniform(-2.5, 2.5, size=2)
                things.append((obj, colour, shape, radius, start, velocity))
            frame_dir, mask_dir = root / split / "JPEGImages" / name, root / split / "Annotations" / name
            frame_dir.mkdir(parents=True, exist_ok=True)
            mask_dir.mkdir(parents=True, exist_ok=True)
            background = rng.integers(0, 90, size=(h, w, 3)).astype(np.uint8)
            frame_ids = []
            for t in range(frames):
                image, labels = background.copy(), np.zeros((h, w), np.uint8)
                for obj, colour, shape, radius, start, velocity in things:
                    centre = np.clip(start + t * velocity, radius, (w - radius, h - radius))
                    _draw(labels, image, shape, centre, radius, obj, COLOURS[colour])
                frame_id = f"{5 * t:05d}"
                cv2.imwrite(str(frame_dir / f"{frame_id}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                write_palette_png(mask_dir / f"{frame_id}.png", labels)
                frame_ids.append(frame_id)
            expressions = {
                str(i): {"exp": f"the {colour} {shape}", "obj_id": str(obj)}
                for i, (obj, colour, shape, *_rest) in enumerate(things)
            }
            videos[name] = {"expressions": expressions, "frames": frame_ids}
        meta = root / "meta_expressions" / split
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "meta_expressions.json").write_text(json.dumps({"videos": videos}, indent=1))
    return root
