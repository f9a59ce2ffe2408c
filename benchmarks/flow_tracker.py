"""Synthetic benchmark of the weight-free flow tracker (`rvos propagate --model flow`), issues 14 and 23.

Writes clips with exact ground truth at 320x240 and 854x480, runs the real command on each, scores
it with `rvos eval` and prints one markdown table: J and F per clip (mean over its objects), the
worst last-frame area error among the objects present on the last frame, and the tracker's frames/s.

The textured set (issue 14): finely textured objects moving at 1-10 px/frame, one object crossing in
front of another, an object on a background of nearly its colour, a scale change, a short full
occlusion behind an unlabelled pillar. The one-colour set (issue 23): flat-coloured objects with and
without sensor noise crossing over a busy background, shaded objects of one colour on a textured and
on a flat background, a tinted window sliding over a pattern that stays put, a scene cut after which
one object is seen again elsewhere and the other is gone, and an object that triples in area by
standing up (not a similarity).

    python benchmarks/flow_tracker.py --out /tmp/flow-bench                  # all clips
    python benchmarks/flow_tracker.py --out /tmp/flow-bench --set one-colour # issue 23's clips
    python benchmarks/flow_tracker.py --out /tmp/flow-bench --clips fast_320 crossing_320
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from rvos_cli.video.palette import read_label_png, write_palette_png

# A trajectory maps the frame index to (centre x, centre y) in pixels and a scale factor, one for both
# axes or (x, y); a thing is drawn on the frames where its centre is not None.
Scale = float | tuple[float, float]
Trajectory = Callable[[int], tuple[float | None, float | None, Scale]]


@dataclass(frozen=True)
class Thing:
    """One labelled object: id (0 = unlabelled occluder), ellipse or box of half-size (rx, ry) px at
    scale 1, base RGB colour, texture contrast and cell size (px), its trajectory, a shading
    amplitude (a smooth light-to-dark gradient across it, as on a ball; 0 = none) and a tint: above
    0 it is a window that shows the scene behind it, (1 - tint) * scene + tint * colour, so its
    inside does not move with it."""

    object_id: int
    kind: str
    half_size: tuple[float, float]
    colour: tuple[int, int, int]
    trajectory: Trajectory
    contrast: float = 60.0
    cell: float = 3.0
    shading: float = 0.0
    tint: float = 0.0


@dataclass(frozen=True)
class Clip:
    """A benchmark clip: size, length, background colour/contrast and its things, back to front.
    `regions`: a background of several smooth colour regions (else one colour); `noise`: the camera's
    noise (std, grey levels); `cut`: the frame where a second shot with another background starts (0: none);
    `group`: "textured" (issue 14) or "one-colour" (issue 23)."""

    name: str
    width: int
    height: int
    frames: int
    things: list[Thing]
    background: tuple[int, int, int] = (110, 120, 100)
    background_contrast: float = 40.0
    lookalike: bool = True
    seed: int = 0
    notes: str = field(default="", compare=False)
    regions: bool = True
    noise: float = 2.0
    cut: int = 0
    group: str = "textured"


def texture(height: int, width: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """Fine random texture in about [-1, 1], [H, W] float32: noise of feature size `cell` pixels plus
    a coarser component, so both flow and colour statistics have something to see."""
    fine = rng.normal(0, 1, (max(2, int(height / cell)), max(2, int(width / cell)))).astype(np.float32)
    fine = cv2.resize(fine, (width, height), interpolation=cv2.INTER_CUBIC)
    coarse = rng.normal(0, 1, (max(2, height // 40), max(2, width // 40))).astype(np.float32)
    coarse = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(0.45 * fine + 0.35 * coarse, -1.5, 1.5)


def linear(x0: float, y0: float, vx: float, vy: float, scale: Callable[[int], float] = lambda t: 1.0) -> Trajectory:
    """Constant velocity (vx, vy) px/frame from (x0, y0)."""
    return lambda t: (x0 + vx * t, y0 + vy * t, scale(t))


def accelerating(x0: float, y0: float, v0: float, v1: float, frames: int, vy: float = 0.0) -> Trajectory:
    """Horizontal speed ramping linearly from v0 to v1 px/frame over `frames` frames."""
    return lambda t: (x0 + v0 * t + 0.5 * (v1 - v0) * t * t / frames, y0 + vy * t, 1.0)


def standing_up(x: float, bottom: float, half_height: float, frames: int, vx: float = 0.0) -> Trajectory:
    """A thing whose height grows from 1 to 3 times over `frames` frames, its width fixed, its bottom
    edge at `bottom` (it stands up, its area triples), drifting sideways at `vx` px/frame."""

    def at(t: int) -> tuple[float, float, Scale]:
        stretch = 1 + 2 * min(t, frames) / frames
        return x + vx * t, bottom - half_height * stretch, (1.0, stretch)

    return at


def shots(first: Trajectory | None, second: Trajectory | None, cut: int) -> Trajectory:
    """`first` before frame `cut` and `second` from it (either None: not in that shot)."""

    def at(t: int) -> tuple[float | None, float | None, Scale]:
        trajectory = first if t < cut else second
        return trajectory(t) if trajectory else (None, None, 1.0)

    return at


def clips() -> list[Clip]:
    """The benchmark set: the 8 textured clips of issue 14 and the 14 one-colour clips of issue 23,
    40-90 frames, 320x240 and 854x480."""
    return textured_clips() + one_colour_clips()


def textured_clips() -> list[Clip]:
    """Issue 14's set: 8 clips of finely textured objects, 40-90 frames, 320x240 and 854x480."""
    return [
        Clip(
            "fast_320",
            320,
            240,
            60,
            [
                Thing(1, "ellipse", (38, 28), (200, 80, 70), accelerating(50, 90, 1, 7, 60)),
                Thing(2, "box", (22, 30), (70, 110, 200), linear(250, 170, -3.5, -0.5)),
            ],
            notes="textured ellipse accelerating 1 -> 7 px/frame, a box at 4 px/frame",
        ),
        Clip(
            "crossing_320",
            320,
            240,
            60,
            [
                Thing(2, "box", (26, 34), (70, 110, 200), linear(170, 125, -0.5, 0.2)),
                Thing(1, "ellipse", (34, 26), (215, 160, 60), linear(30, 120, 4.5, 0.1)),
            ],
            notes="ellipse at 4.5 px/frame passes in front of a slow box, hiding most of it",
        ),
        Clip(
            "camouflage_320",
            320,
            240,
            60,
            [Thing(1, "ellipse", (40, 30), (122, 126, 104), linear(70, 110, 3, 0.6), contrast=55, cell=2.5)],
            notes="ellipse of nearly the background's colour (mean RGB differs by ~10) at 3 px/frame",
        ),
        Clip(
            "occlusion_320",
            320,
            240,
            60,
            [
                Thing(1, "ellipse", (24, 20), (200, 90, 160), linear(40, 130, 4, 0)),
                Thing(0, "box", (36, 140), (90, 90, 90), linear(170, 120, 0, 0), contrast=30),
            ],
            notes="ellipse at 4 px/frame fully hidden for ~6 frames behind an unlabelled pillar",
        ),
        Clip(
            "fast_854",
            854,
            480,
            50,
            [
                Thing(1, "ellipse", (70, 50), (200, 80, 70), linear(110, 170, 10, 0.5)),
                Thing(2, "box", (45, 60), (70, 110, 200), linear(700, 330, -6, -1)),
            ],
            notes="two objects at 10 and 6 px/frame",
        ),
        Clip(
            "scale_854",
            854,
            480,
            60,
            [
                Thing(1, "ellipse", (60, 45), (215, 160, 60), linear(250, 240, 3, 0, lambda t: 1 + t / 40)),
                Thing(2, "box", (70, 55), (70, 150, 110), linear(640, 230, 1.5, 0.5, lambda t: 1.4 - t / 120)),
            ],
            notes="one object grows 2.5x while moving at 3 px/frame, another shrinks to 0.9x",
        ),
        Clip(
            "camouflage_854",
            854,
            480,
            80,
            [
                Thing(1, "ellipse", (75, 55), (118, 128, 102), linear(150, 230, 5, 0.5), contrast=55, cell=3),
                Thing(2, "box", (40, 50), (200, 90, 160), linear(700, 90, -2, 0)),
            ],
            notes="near-background-colour ellipse at 5 px/frame and a distinct box at 2 px/frame",
        ),
        Clip(
            "slow_854",
            854,
            480,
            90,
            [
                Thing(1, "ellipse", (60, 60), (190, 110, 60), linear(200, 200, 1, 0.3)),
                Thing(2, "box", (55, 40), (80, 100, 190), linear(600, 300, -1.5, -0.8)),
            ],
            notes="two objects at 1 and 1.7 px/frame over 90 frames (drift)",
        ),
    ]


def one_colour_clips() -> list[Clip]:
    """Issue 23's set: objects with little or no texture of their own, at 320x240 and 854x480."""
    out = []
    for width, height, k in ((320, 240, 1.0), (854, 480, 2.0)):
        size = f"_{width}"
        red, blue = (205, 45, 50), (40, 90, 215)
        crossing = [
            Thing(2, "box", (22 * k, 30 * k), blue, linear(210 * k, 140 * k, -2.5 * k, -0.4 * k), contrast=0),
            Thing(1, "ellipse", (30 * k, 22 * k), red, linear(40 * k, 110 * k, 4 * k, 0.3 * k), contrast=0),
        ]
        shaded = [
            Thing(
                1, "ellipse", (34 * k, 34 * k), (225, 170, 40), linear(60 * k, 100 * k, 3.5 * k, 0.8 * k), 4, shading=45
            ),
            Thing(
                2, "box", (26 * k, 18 * k), (150, 60, 170), linear(260 * k, 180 * k, -3 * k, -0.5 * k), 4, shading=35
            ),
        ]
        out += [
            Clip(
                "flat" + size,
                width,
                height,
                50,
                crossing,
                lookalike=False,
                noise=0.0,
                group="one-colour",
                notes="two flat-coloured objects (no texture, no noise) crossing over a busy background",
            ),
            Clip(
                "flat_noisy" + size,
                width,
                height,
                50,
                crossing,
                lookalike=False,
                noise=4.0,
                seed=1,
                group="one-colour",
                notes="the same with sensor noise (std 4)",
            ),
            Clip(
                "shaded_textured" + size,
                width,
                height,
                50,
                shaded,
                lookalike=False,
                noise=3.0,
                seed=2,
                group="one-colour",
                notes="a shaded ball and box of one colour each over a textured background",
            ),
            Clip(
                "shaded_plain" + size,
                width,
                height,
                50,
                shaded,
                regions=False,
                background=(120, 125, 130),
                background_contrast=0.0,
                lookalike=False,
                noise=3.0,
                seed=3,
                group="one-colour",
                notes="the same over a flat background",
            ),
            Clip(
                "window" + size,
                width,
                height,
                50,
                [
                    Thing(
                        1,
                        "ellipse",
                        (40 * k, 30 * k),
                        (60, 110, 230),
                        linear(60 * k, 110 * k, 3 * k, 0.4 * k),
                        contrast=0,
                        tint=0.5,
                    ),
                ],
                lookalike=False,
                seed=4,
                group="one-colour",
                notes="a tinted window at 3 px/frame over a pattern that stays put (its inside does not move)",
            ),
            Clip(
                "cut" + size,
                width,
                height,
                40,
                [
                    Thing(
                        1,
                        "ellipse",
                        (30 * k, 24 * k),
                        (200, 80, 70),
                        shots(linear(60 * k, 90 * k, 3 * k, 0.5 * k), linear(230 * k, 160 * k, -2 * k, 0), 20),
                    ),
                    Thing(
                        2,
                        "box",
                        (24 * k, 28 * k),
                        (40, 90, 215),
                        shots(linear(230 * k, 70 * k, -2 * k, 1 * k), None, 20),
                        contrast=0,
                    ),
                ],
                lookalike=False,
                cut=20,
                seed=5,
                group="one-colour",
                notes="a scene cut at frame 20: the textured ellipse is seen again elsewhere, the flat box is gone",
            ),
            Clip(
                "grow" + size,
                width,
                height,
                50,
                [
                    Thing(
                        1,
                        "ellipse",
                        (26 * k, 20 * k),
                        (150, 150, 165),
                        standing_up(150 * k, 200 * k, 20 * k, 40, 0.5 * k),
                        contrast=5,
                        cell=4,
                        shading=25,
                    )
                ],
                lookalike=False,
                seed=6,
                group="one-colour",
                notes="a grey object with faint texture that stands up: its height and area triple in 40 frames",
            ),
        ]
    return out


def _inside(thing: Thing, xs: np.ndarray, ys: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inside [H, W] bool, u, v): pixel coordinates relative to the thing's centre, in its own unscaled frame."""
    cx, cy, scale = thing.trajectory(t)
    if cx is None:
        return np.zeros(xs.shape, bool), xs, ys
    sx, sy = scale if isinstance(scale, tuple) else (scale, scale)
    u, v = (xs - cx) / sx, (ys - cy) / sy
    rx, ry = thing.half_size
    if thing.kind == "ellipse":
        return (u / rx) ** 2 + (v / ry) ** 2 <= 1, u, v
    return (np.abs(u) <= rx) & (np.abs(v) <= ry), u, v


def colour_texture(height: int, width: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] float32 in about [-1, 1]: a shared luminance texture plus weaker independent ones per
    channel, so colours spread over many histogram bins as on real surfaces."""
    shared = texture(height, width, cell, rng)
    own = np.stack([texture(height, width, cell, rng) for _ in range(3)], axis=-1)
    return 0.7 * shared[..., None] + 0.5 * own


def regions(height: int, width: int, palette: np.ndarray, rng: np.random.Generator, blob: int = 50) -> np.ndarray:
    """[H, W, 3] float32: smooth regions of the palette's colours [K, 3] (a soft arg-max of random fields)."""
    fields = [rng.normal(0, 1, (height // blob + 2, width // blob + 2)).astype(np.float32) for _ in palette]
    fields = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in fields], axis=-1)
    weights = np.exp(6 * (fields - fields.max(axis=-1, keepdims=True)))
    return (weights / weights.sum(axis=-1, keepdims=True)) @ palette


def _background(clip: Clip, palette: list, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] float32: smooth regions of the palette's colours (or the first colour alone) plus texture."""
    h, w = clip.height, clip.width
    base = regions(h, w, np.float32(palette), rng) if clip.regions else np.full((h, w, 3), palette[0], np.float32)
    return base + clip.background_contrast * colour_texture(h, w, 3, rng)


def render(clip: Clip) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames [H, W, 3] uint8 RGB and labels [H, W] uint8, one per frame. The background is made of
    regions of several colours, among them the objects' own where `clip.lookalike`; textures move with
    their thing (sampled at sub-pixel positions); the frame is slightly blurred and noisy like a camera's."""
    rng = np.random.default_rng(clip.seed)
    h, w = clip.height, clip.width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    palette = [clip.background, (150, 140, 120), (60, 80, 70)]
    palette += [thing.colour for thing in clip.things if thing.object_id and clip.lookalike]
    background = _background(clip, palette, rng)
    skins = []
    for thing in clip.things:
        size = int(2.6 * max(thing.half_size)) + 8
        skins.append(np.float32(thing.colour) + thing.contrast * colour_texture(size, size, thing.cell, rng))
    # The second shot: other colours in other places.
    second = _background(clip, [(90, 100, 130), (170, 160, 150), (70, 60, 50)], rng) if clip.cut else background
    frames, labels = [], []
    for t in range(clip.frames):
        frame = (second if clip.cut and t >= clip.cut else background).copy()
        label = np.zeros((h, w), np.uint8)
        for thing, skin in zip(clip.things, skins):
            inside, u, v = _inside(thing, xs, ys, t)
            if not inside.any():
                continue
            centre = skin.shape[0] / 2
            sampled = cv2.remap(skin, u + centre, v + centre, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            if thing.shading:  # lit from the top left
                rx, ry = thing.half_size
                sampled += thing.shading * np.clip(-(u / rx + v / ry) / 2, -1, 1)[..., None]
            if thing.tint:
                sampled = (1 - thing.tint) * frame + thing.tint * np.float32(thing.colour)
            frame[inside] = sampled[inside]
            label[inside] = thing.object_id
        frame = cv2.GaussianBlur(frame, (0, 0), 0.6)
        if clip.noise:
            frame += rng.normal(0, clip.noise, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        labels.append(label)
    return frames, labels


def write_clip(clip: Clip, root: Path) -> None:
    """root/clips/<name>/<t>.png (RGB frames) and root/gt/<name>/<t>.png (palette labels)."""
    frames, labels = render(clip)
    for sub in ("clips", "gt", "pred"):
        (root / sub / clip.name).mkdir(parents=True, exist_ok=True)
    for t, (frame, label) in enumerate(zip(frames, labels)):
        cv2.imwrite(str(root / "clips" / clip.name / f"{t:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        write_palette_png(root / "gt" / clip.name / f"{t:05d}.png", label)


def propagate(clip: Clip, root: Path) -> float:
    """Run `rvos propagate --model flow` on the clip; returns the tracker's frames/s (model stage)."""
    mask = root / "gt" / clip.name / "00000.png"
    shutil.rmtree(root / "pred" / clip.name, ignore_errors=True)
    command = ["rvos", "propagate", str(root / "clips" / clip.name), "--mask", str(mask), "--model", "flow"]
    command += ["-o", str(root / "pred" / clip.name), "--max-seconds", "0", "--json", "-q"]
    summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return summary["frames"] / summary["timings"]["model"]


def score(root: Path) -> dict:
    """`rvos eval pred gt --json`: DAVIS J and F per video and object."""
    command = ["rvos", "eval", str(root / "pred"), str(root / "gt"), "--json", "-q"]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def last_frame_area_error(clip: Clip, root: Path) -> float:
    """Worst |predicted area - true area| / true area over the objects on the clip's last frame."""
    name = f"{clip.frames - 1:05d}.png"
    truth = read_label_png(root / "gt" / clip.name / name)
    pred = read_label_png(root / "pred" / clip.name / name)
    errors = [abs(int((pred == k).sum()) - int((truth == k).sum())) / (truth == k).sum() for k in np.unique(truth) if k]
    return float(max(errors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for clips, ground truth and predictions")
    parser.add_argument("--clips", nargs="*", help="names of the clips to run (default: all)")
    parser.add_argument("--set", choices=("textured", "one-colour"), help="run only this set (default: both)")
    args = parser.parse_args(argv)
    chosen = [c for c in clips() if (not args.clips or c.name in args.clips) and args.set in (None, c.group)]
    speeds = {}
    for clip in chosen:
        write_clip(clip, args.out)
        speeds[clip.name] = propagate(clip, args.out)
    videos = score(args.out)["videos"]
    rows, js, fs = [], {}, {}
    for clip in chosen:
        objects = videos[clip.name].values()
        j, f = np.mean([o["J-Mean"] for o in objects]), np.mean([o["F-Mean"] for o in objects])
        js.setdefault(clip.group, []).append(j), fs.setdefault(clip.group, []).append(f)
        area = last_frame_area_error(clip, args.out)
        size = f"{clip.width}x{clip.height}, {clip.frames} frames, {len(objects)} obj"
        rows.append(f"| {clip.name} | {size} | {j:.3f} | {f:.3f} | {100 * area:.1f} % | {speeds[clip.name]:.1f} |")
    print("| clip | input | J | F | last-frame area error (worst object) | frames/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    for group in js:
        count = f"{len(js[group])} {group} clips"
        print(f"| **mean** | {count} | **{np.mean(js[group]):.3f}** | **{np.mean(fs[group]):.3f}** | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
