"""Training and validation samples of the referring datasets, in their original layouts.

- Ref-YouTube-VOS: `train/JPEGImages/<video>/<frame>.jpg`, `train/Annotations/<video>/<frame>.png`
  (palette PNGs of object ids), `meta_expressions/train/meta_expressions.json`. A sample is one
  expression over one window of `window` annotated frames (the video cut into consecutive windows, the
  last completed from the end or by repeating its last frame), kept when the expression's object
  appears in the window; every frame has targets. A `valid` split with Annotations (a custom dataset)
  is used for validation; the official one has none.
- A2D-Sentences: `Release/videoset.csv`, `Release/clips320H/<video>.mp4`,
  `text_annotations/a2d_annotation.txt`, `a2d_missed_videos.txt` and
  `a2d_annotation_with_instances/<video>/<frame>.h5`. A sample is one (text, annotated frame) with a
  window of `window` frames around it; only that frame has targets (`valid_indices`). Train: subset 0;
  validation: subset 1.
- JHMDB-Sentences: `jhmdb_annotation.txt`, `Rename_Images/<class>/<video>/<frame>.png`,
  `puppet_mask/<class>/<video>/puppet_mask.mat`. As A2D; training uses every frame with a mask,
  validation three frames per video drawn with the run's seed (the original drew them once and
  shipped the list).

A frame that cannot be read makes its sample a `Skipped` (warned about and counted by the loop).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from rvos_cli.errors import InputError
from rvos_cli.models.mttr.preprocess import normalize_text
from rvos_cli.video.palette import read_label_png

KINDS = ("ref_youtube_vos", "a2d_sentences", "jhmdb_sentences")
TITLES = {"ref_youtube_vos": "Ref-YouTube-VOS", "a2d_sentences": "A2D-Sentences", "jhmdb_sentences": "JHMDB-Sentences"}


@dataclass(frozen=True)
class SampleRef:
    """What to load for one sample: the video, its frames (ids or 1-based indices), the annotated
    frame positions in the window, the text and its object."""

    video: str
    frames: tuple
    text: str
    obj_id: int
    annotated: tuple[int, ...] | None = None  # None: every frame
    image_id: str = ""


@dataclass
class Skipped:
    """A sample that could not be read: the reason, for the warning."""

    reason: str


@dataclass
class Sample:
    frames: list[np.ndarray]  # RGB uint8 [H, W, 3]
    targets: list[dict | None]
    text: str


def read_rgb(path: Path) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def frame_target(masks: np.ndarray, referred: int, visible: bool | None = None, image_id: str = "") -> dict:
    """The original's per-frame target: every object's mask [K, H, W] and which one the text refers to."""
    masks = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.uint8))
    target = {
        "masks": masks,
        "referred_instance_idx": torch.tensor(referred, dtype=torch.long),
        "orig_size": torch.tensor(masks.shape[-2:]),
        "size": torch.tensor(masks.shape[-2:]),
        "iscrowd": torch.zeros(len(masks)),
    }
    if visible is not None:
        target["is_ref_inst_visible"] = torch.tensor(visible)
    if image_id:
        target["image_id"] = image_id
    return target


def windows(frames: list[str], size: int) -> list[list[str]]:
    """Consecutive windows; a short last one is completed from the end, or by repeating its last frame."""
    out = [frames[i : i + size] for i in range(0, len(frames), size)]
    if out and len(out[-1]) < size:
        out[-1] = frames[-size:] if len(frames) >= size else out[-1] + [out[-1][-1]] * (size - len(out[-1]))
    return out


def centred_window(center: int, size: int, first: int, last: int) -> tuple[int, ...]:
    """`size` frame numbers around `center` (at position size // 2), clamped to [first, last]."""
    return tuple(min(max(i, first), last) for i in range(center - size // 2, center + (size + 1) // 2))


class RefYouTubeVOS:
    kind = "ref_youtube_vos"

    def __init__(self, root: Path, warn: Callable[[str], None]):
        self.root, self.warn = root, warn

    @staticmethod
    def expressions_file(root: Path, split: str) -> Path | None:
        for candidate in (root / "meta_expressions" / split, root / split, root):
            if (candidate / "meta_expressions.json").is_file():
                return candidate / "meta_expressions.json"
        return None

    def has_split(self, split: str) -> bool:
        return (self.root / split / "Annotations").is_dir() and self.expressions_file(self.root, split) is not None

    def samples(self, split: str, window: int, seed: int) -> list[SampleRef]:
        path = self.expressions_file(self.root, split)
        try:
            videos = json.loads(path.read_text(encoding="utf-8"))["videos"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot read {path} ({exc}); expected Ref-YouTube-VOS's {{'videos': ...}}") from None
        out = []
        for video, data in sorted(videos.items()):
            frames = sorted(data.get("frames") or self._frame_ids(split, video))
            if not frames:
                continue
            ids = [self._object_ids(split, video, f) for f in frames]
            present = {f: i for f, i in zip(frames, ids)}
            everywhere = set().union(*ids)
            for exp_id, expression in sorted(data["expressions"].items(), key=lambda kv: int(kv[0])):
                obj_id = int(expression["obj_id"])
                if obj_id not in everywhere:
                    self.warn(
                        f"{video}: expression {exp_id} ({expression['exp']!r}) refers to object {obj_id}, which no "
                        "mask of the video has; skipped"
                    )
                    continue
                for frame_window in windows(frames, window):
                    if any(obj_id in present[f] for f in frame_window):
                        out.append(SampleRef(video, tuple(frame_window), expression["exp"], obj_id))
        return out

    def _frame_ids(self, split: str, video: str) -> list[str]:
        return [p.stem for p in (self.root / split / "JPEGImages" / video).glob("*.jpg")]

    def _object_ids(self, split: str, video: str, frame: str) -> set[int]:
        path = self.root / split / "Annotations" / video / f"{frame}.png"
        try:
            return set(np.unique(read_label_png(path)).tolist()) - {0}
        except InputError:
            return set()

    def load(self, ref: SampleRef, split: str) -> Sample | Skipped:
        frames, labels = [], []
        for frame in ref.frames:
            image = read_rgb(self.root / split / "JPEGImages" / ref.video / f"{frame}.jpg")
            if image is None:
                return Skipped(f"{ref.video}/{frame}.jpg cannot be decoded")
            try:
                labels.append(read_label_png(self.root / split / "Annotations" / ref.video / f"{frame}.png"))
            except InputError as exc:
                return Skipped(str(exc))
            frames.append(image)
        objects = sorted(set().union(*(np.unique(label).tolist() for label in labels)) - {0})
        referred = objects.index(ref.obj_id)
        targets = []
        for label in labels:
            masks = np.stack([label == obj for obj in objects])
            targets.append(frame_target(masks, referred, bool(masks[referred].any())))
        return Sample(frames, targets, ref.text)


class A2DSentences:
    kind = "a2d_sentences"
    SUBSETS = {"train": "0", "valid": "1"}

    def __init__(self, root: Path, warn: Callable[[str], None]):
        self.root, self.warn = root, warn
        self.annotations = root / "text_annotations" / "a2d_annotation_with_instances"
        self._instances: dict[str, dict[int, list[int]]] = {}

    def has_split(self, split: str) -> bool:
        return True

    def samples(self, split: str, window: int, seed: int) -> list[SampleRef]:
        missed_file = self.root / "text_annotations" / "a2d_missed_videos.txt"
        missed = set(missed_file.read_text().split()) if missed_file.is_file() else set()
        with open(self.root / "Release" / "videoset.csv", newline="") as handle:
            videos = {row[0] for row in csv.reader(handle) if row and row[-1].strip() == self.SUBSETS[split]}
        videos -= missed
        with open(self.root / "text_annotations" / "a2d_annotation.txt", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["video_id"] in videos]
        out = []
        for row in rows:
            if not row["instance_id"].strip().isdigit():  # the dataset's one "1 (copy)" mistake
                continue
            instance = int(row["instance_id"])
            for frame, instances in sorted(self.frame_instances(row["video_id"]).items()):
                if instance in instances:
                    image_id = f"v_{row['video_id']}_f_{frame}_i_{instance}"
                    out.append(SampleRef(row["video_id"], (frame,), row["query"].lower(), instance, None, image_id))
        return out

    def frame_instances(self, video: str) -> dict[int, list[int]]:
        """{1-based frame number: instance ids annotated there}, from the video's .h5 files."""
        if video not in self._instances:
            h5py = _h5py()
            found = {}
            for path in sorted((self.annotations / video).glob("*.h5")):
                try:
                    with h5py.File(path, "r") as f:
                        found[int(path.stem)] = [int(i) for i in np.array(f["instance"]).reshape(-1)]
                except (OSError, KeyError, ValueError):
                    self.warn(f"{path} cannot be read; its frame is left out")
            self._instances[video] = found
        return self._instances[video]

    def load(self, ref: SampleRef, split: str, window: int = 8) -> Sample | Skipped:
        frame = ref.frames[0]
        capture = cv2.VideoCapture(str(self.root / "Release" / "clips320H" / f"{ref.video}.mp4"))
        video = []
        while True:
            ok, image = capture.read()
            if not ok:
                break
            video.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        capture.release()
        if not video:
            return Skipped(f"{ref.video}.mp4 cannot be decoded")
        positions = centred_window(frame - 1, window, 0, len(video) - 1)  # the dataset counts from 1
        h5py = _h5py()
        try:
            with h5py.File(self.annotations / ref.video / f"{frame:05d}.h5", "r") as f:
                instances = [int(i) for i in np.array(f["instance"]).reshape(-1)]
                masks = np.array(f["reMask"])
        except (OSError, KeyError) as exc:
            return Skipped(f"{ref.video}/{frame:05d}.h5 cannot be read ({exc})")
        masks = (masks[None] if len(instances) == 1 else masks).transpose(0, 2, 1)  # MATLAB stores columns
        targets: list[dict | None] = [None] * window
        targets[window // 2] = frame_target(masks, instances.index(ref.obj_id), image_id=ref.image_id)
        return Sample([video[i] for i in positions], targets, ref.text)


class JHMDBSentences:
    kind = "jhmdb_sentences"

    def __init__(self, root: Path, warn: Callable[[str], None]):
        self.root, self.warn = root, warn

    def has_split(self, split: str) -> bool:
        return True

    def _videos(self) -> dict[str, tuple[Path, Path]]:
        frames = {p.name: p for p in (self.root / "Rename_Images").glob("*/*") if p.is_dir()}
        masks = {p.parent.name: p for p in (self.root / "puppet_mask").glob("*/*/puppet_mask.mat")}
        return {video: (frames[video], masks[video]) for video in frames if video in masks}

    def samples(self, split: str, window: int, seed: int) -> list[SampleRef]:
        from rvos_cli.train.matfile import load_mat

        videos = self._videos()
        with open(self.root / "jhmdb_annotation.txt", newline="") as handle:
            rows = list(csv.DictReader(handle))
        rng = random.Random(seed)
        out = []
        for row in rows:
            video = row["video_id"]
            if video not in videos:
                self.warn(f"JHMDB-Sentences video {video} has no frames or no puppet_mask.mat; skipped")
                continue
            frame_dir, mask_file = videos[video]
            count = min(len(list(frame_dir.glob("*.png"))), load_mat(mask_file)["part_mask"].shape[-1])
            frames = list(range(1, count + 1))
            chosen = sorted(rng.sample(frames, min(3, len(frames)))) if split == "valid" else frames
            for frame in chosen:
                out.append(SampleRef(video, (frame, count), row["query"], 1, None, f"v_{video}_f_{frame}"))
        return out

    def load(self, ref: SampleRef, split: str, window: int = 8) -> Sample | Skipped:
        from rvos_cli.train.matfile import MatFileError, load_mat

        frame, count = ref.frames
        frame_dir, mask_file = self._videos()[ref.video]
        frames = []
        for i in centred_window(frame, window, 1, count):
            image = read_rgb(frame_dir / f"{i:05d}.png")
            if image is None:
                return Skipped(f"{frame_dir / f'{i:05d}.png'} cannot be decoded")
            frames.append(image)
        try:
            mask = load_mat(mask_file)["part_mask"][..., frame - 1]
        except (OSError, MatFileError, KeyError) as exc:
            return Skipped(f"{mask_file} cannot be read ({exc})")
        targets: list[dict | None] = [None] * window
        targets[window // 2] = frame_target(mask[None] > 0, 0, image_id=ref.image_id)
        return Sample(frames, targets, ref.text)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise InputError(
            "A2D-Sentences keeps its masks in HDF5 files, which need h5py: pip install h5py "
            "(or pip install 'rvos-cli[train]')"
        ) from None
    return h5py


def detect(root: Path, warn: Callable[[str], None]):
    """The reader of a dataset root, by its layout; an InputError naming the layouts otherwise."""
    if not root.is_dir():
        raise InputError(f"dataset root {root} is not a folder; pass a Ref-YouTube-VOS, A2D-Sentences or JHMDB root")
    if (root / "train" / "JPEGImages").is_dir() and RefYouTubeVOS.expressions_file(root, "train"):
        return RefYouTubeVOS(root, warn)
    if (root / "Release" / "videoset.csv").is_file() and (root / "text_annotations" / "a2d_annotation.txt").is_file():
        return A2DSentences(root, warn)
    if (root / "jhmdb_annotation.txt").is_file() and (root / "Rename_Images").is_dir():
        return JHMDBSentences(root, warn)
    raise InputError(
        f"{root} is not a dataset root rvos can train on: expected Ref-YouTube-VOS (train/JPEGImages, "
        "train/Annotations, meta_expressions/train/meta_expressions.json), A2D-Sentences (Release/videoset.csv, "
        "Release/clips320H, text_annotations/) or JHMDB-Sentences (jhmdb_annotation.txt, Rename_Images, puppet_mask)"
    )


class ReferringDataset(torch.utils.data.Dataset):
    """Samples of one split, transformed: item i -> (video [T, 3, h, w], targets, text) or a `Skipped`.

    The augmentation of item i in epoch e draws from its own generator (seed, e, i), so a run is the
    same whatever the number of loader workers, and after a resume.
    """

    def __init__(self, reader, split: str, refs: list[SampleRef], window: int, transforms, seed: int, train: bool):
        self.reader, self.split, self.refs, self.window = reader, split, refs, window
        self.transforms, self.seed, self.train = transforms, seed, train
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int):
        ref = self.refs[index]
        if isinstance(self.reader, RefYouTubeVOS):
            sample = self.reader.load(ref, self.split)
        else:
            sample = self.reader.load(ref, self.split, self.window)
        if isinstance(sample, Skipped):
            return sample
        rng = random.Random(f"{self.seed}/{self.epoch}/{index}") if self.train else None
        return self.transforms(sample.frames, sample.targets, normalize_text(sample.text), rng)
