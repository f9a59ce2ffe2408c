"""A synthetic clip with known answers: textured shapes moving over a textured background.

Used by `rvos sample` to give newcomers something to run on, and by the tests as ground truth.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from rvos_cli.atomic import atomic_file
from rvos_cli.video.palette import write_palette_png
from rvos_cli.video.writers import Mp4Writer


@dataclass(frozen=True)
class Shape:
    """One object: id, RGB base colour, disc or box, half-size and centre(t) as fractions of the frame."""

    object_id: int
    color: tuple[int, int, int]
    kind: str
    half_size: tuple[float, float]
    centre: Callable[[float], tuple[float, float]]


def default_shapes(vanishing: bool = False) -> list[Shape]:
    """A yellow disc swinging left-right and a blue box on a loop; t in [0, 1] is one cycle.

    With `vanishing`, the box leaves through the right edge in the middle of the clip and comes back.
    """

    def disc(t):
        return 0.3 + 0.2 * math.sin(2 * math.pi * t), 0.35 + 0.05 * math.cos(2 * math.pi * t)

    def box(t):
        if vanishing:
            return 0.55 + 0.75 * math.sin(math.pi * t), 0.65
        return 0.65 + 0.12 * math.cos(2 * math.pi * t), 0.6 + 0.15 * math.sin(2 * math.pi * t)

    return [Shape(1, (235, 190, 60), "disc", (0.13, 0.13), disc), Shape(2, (70, 150, 235), "box", (0.11, 0.16), box)]


def _texture(height: int, width: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth random texture in [-1, 1], [H, W]."""
    coarse = rng.uniform(-1, 1, (max(2, height * cells // width), cells)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth + rng.normal(0, 0.15, (height, width)).astype(np.float32), -1, 1)


def synthetic_clip(
    num_frames: int = 72, width: int = 320, height: int = 240, seed: int = 0, vanishing: bool = False, cycle: int = 72
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (frame [H, W, 3] uint8 RGB, labels [H, W] uint8 with ids 1 and 2) for each frame.

    The shapes complete one loop of their paths every `cycle` frames, whatever the clip's length.

    Each object's texture moves with it, so optical flow has something to track inside the shapes.
    """
    rng = np.random.default_rng(seed)
    background = 110 + 70 * _texture(height, width, rng, 24)[..., None] * np.float32([1.0, 0.9, 0.8])
    patterns = [_texture(height, width, rng, 12) for _ in range(2)]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for index in range(num_frames):
        t = index / cycle
        frame = background.copy()
        labels = np.zeros((height, width), np.uint8)
        for shape, pattern in zip(default_shapes(vanishing), patterns):
            cx, cy = shape.centre(t)
            cx, cy = cx * width, cy * height
            rx, ry = shape.half_size[0] * min(width, height), shape.half_size[1] * min(width, height)
            if shape.kind == "disc":
                inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1
            else:
                inside = (np.abs(xs - cx) <= rx) & (np.abs(ys - cy) <= ry)
            # The pattern is sampled in object coordinates so it travels with the object.
            shifted = cv2.remap(
                pattern, xs - (cx - width / 2), ys - (cy - height / 2), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
            colour = np.float32(shape.color) * (0.75 + 0.35 * shifted[..., None])
            frame[inside] = colour[inside]
            labels[inside] = shape.object_id
        yield np.clip(frame, 0, 255).astype(np.uint8), labels


def mask_path_for(video: str | os.PathLike) -> Path:
    """clip.mp4 -> clip.mask.png"""
    video = Path(video)
    return video.with_name(video.stem + ".mask.png")


def write_sample(
    path: str | os.PathLike,
    seconds: float = 3.0,
    fps: float = 24.0,
    width: int = 320,
    height: int = 240,
    audio: bool = True,
    seed: int = 0,
) -> Path:
    """Write the synthetic clip as an MP4 (with a quiet 440 Hz tone if `audio`) and its first-frame
    mask next to it; returns the mask's path. Both files appear only when complete."""
    num_frames = max(2, round(seconds * fps))
    tone = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={num_frames / fps:.3f},volume=0.05"]
    mask = mask_path_for(path)
    with atomic_file(mask) as mask_tmp, Mp4Writer(path, width, height, fps, tone if audio else None) as writer:
        clip = synthetic_clip(num_frames, width, height, seed, cycle=round(3 * fps))
        for index, (frame, labels) in enumerate(clip):
            if index == 0:  # padded like the frames: H.264 pads an odd size with a black (background) row/column
                write_palette_png(mask_tmp, np.pad(labels, ((0, height % 2), (0, width % 2))))
            writer.write(frame)
    return mask
