"""Streaming video input: a video file decoded by OpenCV, or a directory of frames.

Only the current frame is in memory. Opening a source counts the kept span's frames exactly and
reads their timestamps, so a truncated file fails before any output is written: from the packets
of an MP4 or MOV file (where a sample is a frame; no decoding), otherwise by one decode pass.
"""

from __future__ import annotations

import math
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # libav's own complaints would break "one line per error"

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from rvos_cli.errors import InputError  # noqa: E402
from rvos_cli.paths import IMAGE_SUFFIXES  # noqa: E402
from rvos_cli.video.ffmpeg import has_audio, stream_kinds  # noqa: E402
from rvos_cli.video.images import MAX_PIXELS, MAX_SIDE, read_header, read_image  # noqa: E402
from rvos_cli.video.timecode import format_time, parse_time  # noqa: E402

if hasattr(cv2.utils, "logging"):
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
else:  # OpenCV before 4.9 has the switch alone (2: errors only)
    cv2.setLogLevel(2)

FRAME_EXTENSIONS = IMAGE_SUFFIXES  # what a frames folder lists (.png, .jpg, .jpeg)
DEFAULT_FRAMES_FPS = 24.0
MIN_SIDE = 2
# Containers such as mkv estimate their frame count from the duration; allow that much slack.
FRAME_COUNT_SLACK = 0.05
REORDER_PACKETS = 64  # how far past the span's end a packet scan reads (B-frame reordering is far shorter)


@dataclass(frozen=True)
class VideoInfo:
    """What was opened and which span is kept. width/height are those of the delivered (rotated) frames."""

    path: Path
    is_frames_dir: bool
    fps: float
    width: int
    height: int
    num_frames: int
    start: float  # seconds, time of the first kept frame
    end: float  # seconds, end of the kept span (start + num_frames / fps)
    names: list[str] = field(default_factory=list)  # output stems, one per kept frame
    has_audio: bool = False
    # Presentation time of each kept frame in seconds (from the first decoded frame); None: frame i is at i / fps.
    timestamps: list[float] | None = None
    vfr: bool = False  # the timestamps stray from i / fps by more than half a frame: writers time frames by them


@dataclass(frozen=True)
class Span:
    """Kept frame indices [first, stop); stop None means up to the end of the video."""

    first: int
    stop: int | None
    limited_by_max_seconds: bool


@dataclass(frozen=True)
class Trim:
    """The requested span in seconds; `end` None keeps at most `max_seconds` (0 = all)."""

    start: float | None
    end: float | None
    max_seconds: float

    def bounds(self) -> tuple[float, float | None, bool]:
        """(start, end or None, whether the end comes from --max-seconds), all in seconds."""
        start = self.start or 0.0
        if self.end is not None and self.end <= start:
            raise InputError(f"--end {self.end:g} s is not after --start {start:g} s; choose a later --end")
        if self.end is not None:
            return start, self.end, False
        if self.max_seconds > 0:
            return start, start + self.max_seconds, True
        return start, None, False

    def span(self, fps: float) -> Span:
        start = self.start or 0.0
        self.bounds()
        first = math.ceil(start * fps - 1e-6)  # frame i shows at i / fps
        if self.end is not None:
            return Span(first, math.ceil(self.end * fps - 1e-6), False)
        if self.max_seconds > 0:
            return Span(first, math.ceil((start + self.max_seconds) * fps - 1e-6), True)
        return Span(first, None, False)


def natural_key(name: str) -> list:
    """Sort key that orders 2.jpg before 10.jpg."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB from OpenCV's BGR, BGRA or grayscale."""
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / np.iinfo(image.dtype).max)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _check_size(frame: np.ndarray, path: Path) -> None:
    height, width = frame.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"{path} has {width}x{height} frames; a video needs at least {MIN_SIDE}x{MIN_SIDE} pixels")


def _check_frame_size(capture, path: Path) -> None:
    """Refuse a video whose declared frame size is beyond the image limits before decoding a frame."""
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InputError(
            f"{path} declares {width}x{height} frames, over the limit of {MAX_SIDE}x{MAX_SIDE} and "
            f"{MAX_PIXELS:,} pixels (docs/formats.md, 'Image limits'); scale the video down first"
        )


def _check_unique_stems(files: list[Path]) -> None:
    """Outputs are named after the frames' stems, so `a.jpg` and `a.png` would write one mask for two frames."""
    seen: dict[str, Path] = {}
    for file in files:
        other = seen.setdefault(file.stem, file)
        if other is not file:
            raise InputError(
                f"frames {other.name} and {file.name} in {file.parent} share the name {file.stem!r} "
                "that their masks would get; rename or remove one"
            )


def _opencv_name(path: Path) -> str:
    """OpenCV takes file names as UTF-8 and crashes on the undecodable bytes (surrogate escapes) that
    Linux allows in a name; such a file is reached through its descriptor's /proc path instead."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ""
    return name


def _is_iso_media(path: Path) -> bool:
    """An ISO base media file (MP4, MOV, M4V, 3GP): its first box is `ftyp` (or a QuickTime `moov`/`wide`/`mdat`)."""
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError:
        return False
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"wide", b"mdat", b"free")


class _Capture:
    """A cv2.VideoCapture of any file name: a name that is not UTF-8 is opened as /proc/self/fd/N."""

    def __init__(self, path: Path):
        self._fd = None
        name = _opencv_name(path)
        if not name:
            if not os.path.isdir("/proc/self/fd"):
                raise InputError(
                    f"{printable_path(path)}: the file name is not valid UTF-8, which OpenCV cannot open here; "
                    "rename the file"
                )
            self._fd = os.open(path, os.O_RDONLY)
            name = f"/proc/self/fd/{self._fd}"
        self._capture = cv2.VideoCapture(name, cv2.CAP_FFMPEG)

    def __getattr__(self, name: str):
        return getattr(self._capture, name)

    def release(self) -> None:
        self._capture.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):  # a primed capture of a source that was never read
        if "_capture" in self.__dict__:
            self.release()


def printable_path(path: str | os.PathLike) -> str:
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class VideoSource:
    """Iterate `for index, frame in source` over the kept frames (HxWx3 uint8 RGB), as often as needed."""

    info: VideoInfo

    def __len__(self) -> int:
        return self.info.num_frames

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return enumerate(self._frames())

    def _frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError


@dataclass
class _Scan:
    """What one decode pass over a video file up to the kept span's end found."""

    first_frame: np.ndarray
    first: int  # index of the first kept frame among the decoded ones
    times: list[float]  # timestamps of all decoded frames, seconds from the first one
    kept: int
    more: bool  # a frame after the kept span decoded
    # A capture that has just decoded `first_frame`, for the first pass over the frames to go on from.
    primed: _Capture | None = None

    @property
    def kept_times(self) -> list[float]:
        return self.times[self.first : self.first + self.kept]


def _span_end(times: list[float], fps: float) -> float:
    """Where a run of frame times ends: the last one plus the interval before it (1 / fps for one frame)."""
    return times[-1] + (times[-1] - times[-2] if len(times) > 1 else 1 / fps)


def is_variable_rate(times: list[float], fps: float) -> bool:
    """Whether frame j's time strays from j / fps by more than half a frame for any decoded frame."""
    return any(abs(t - j / fps) > 0.5 / fps for j, t in enumerate(times))


class VideoFileSource(VideoSource):
    def __init__(self, path: Path, fps: float | None, trim: Trim, reporter=None):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvos-probe") as pool:
            audio = pool.submit(has_audio, path)  # an ffmpeg process, run while OpenCV reads the file
            self._read(path, fps, trim, reporter, audio)

    def _read(self, path: Path, fps: float | None, trim: Trim, reporter, audio: Future) -> None:
        capture = self._open(path)
        try:
            _check_frame_size(capture, path)
            video_fps = capture.get(cv2.CAP_PROP_FPS)
            if not (math.isfinite(video_fps) and video_fps > 0):
                video_fps = fps or DEFAULT_FRAMES_FPS  # no usable rate in the file
            declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            limited = trim.bounds()[2]
            scan = self._scan_packets(path, video_fps, trim, declared) or self._scan(
                capture, path, video_fps, trim, declared
            )
        finally:
            capture.release()
        _check_size(scan.first_frame, path)
        kept = scan.kept
        vfr = is_variable_rate(scan.times, video_fps)
        times = scan.kept_times
        if vfr:
            # Frames are where their timestamps say; the span ends where the next frame starts.
            start = times[0]
            end = scan.times[scan.first + kept] if scan.more else _span_end(times, video_fps)
        else:  # constant rate: frame i is at i / fps, as the overlay writer's constant rate assumes
            start, end = scan.first / video_fps, (scan.first + kept) / video_fps
        if scan.more and limited and reporter is not None:
            total = f"{declared / video_fps:.2f} s" if declared > 0 else "longer"
            reporter.warn(
                f"kept {format_time(start)}-{format_time(end)} "
                f"({end - start:.2f} s) of the {total} video; use --max-seconds 0 or --end to keep more"
            )
        if vfr and reporter is not None:
            reporter.note(_vfr_note(path, times, end, video_fps))
        height, width = scan.first_frame.shape[:2]
        self.info = VideoInfo(
            path=path,
            is_frames_dir=False,
            fps=video_fps,
            width=width,
            height=height,
            num_frames=kept,
            start=start,
            end=end,
            names=[f"{i:05d}" for i in range(kept)],
            has_audio=audio.result(),
            timestamps=times,
            vfr=vfr,
        )
        self._first = scan.first
        self._primed, self._first_frame = scan.primed, scan.first_frame if scan.primed else None

    @staticmethod
    def _open(path: Path) -> _Capture:
        capture = _Capture(path)
        if not capture.isOpened():
            capture.release()
            kinds = stream_kinds(path)
            if kinds and "Video" not in kinds:
                raise InputError(f"{path} has no video stream (zero frames); pass a video file with pictures")
            raise InputError(
                f"cannot decode {path}: not a video OpenCV can read, or a truncated file; "
                "check the file or re-encode it to H.264 MP4"
            )
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # phone videos: apply the rotation metadata
        return capture

    @staticmethod
    def _scan_packets(path: Path, fps: float, trim: Trim, declared: int) -> _Scan | None:
        """`_scan` from the container's packet timestamps, without decoding the span (only its first
        frame), for MP4 and MOV files, where one video sample is one frame. None where that cannot be
        trusted (then `_scan` decodes): timestamps missing, repeated or before the edit list's start
        (frames the decoder would drop), or a sample count other than the container declares."""
        if not _is_iso_media(path):
            return None
        start, end, _ = trim.bounds()
        slack = 1e-6 / fps
        capture = _Capture(path)
        try:
            if not capture.isOpened() or not capture.set(cv2.CAP_PROP_FORMAT, -1):  # -1: packets, not frames
                return None
            raw: list[float] = []
            late = 0  # packets at or after the span's end; B-frames arrive up to a few packets out of order
            while capture.grab():
                raw.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000)
                if end is not None and raw[-1] - raw[0] >= end + 1.0:
                    late += 1
                    if late > REORDER_PACKETS:
                        break
        finally:
            capture.release()
        if not raw or min(raw) < 0 or not all(map(math.isfinite, raw)) or len(set(raw)) < len(raw):
            return None
        origin = min(raw)
        times = sorted(t - origin for t in raw)
        first = next((i for i, t in enumerate(times) if t >= start - slack), None)
        if first is None:
            return None  # `_scan` says where the video ends
        stop = len(times) if end is None else next((i for i, t in enumerate(times) if t >= end - slack), len(times))
        more = stop < len(times)
        if not more and declared > 0 and len(times) != declared:
            return None
        capture = VideoFileSource._open(path)
        for _ in range(first + 1):
            if not capture.grab():
                capture.release()
                return None
        ok, first_frame = capture.retrieve()
        if not ok:
            capture.release()
            return None
        return _Scan(first_frame, first, times[: stop + 1], stop - first, more, capture)

    @staticmethod
    def _scan(capture, path: Path, fps: float, trim: Trim, declared: int) -> _Scan:
        """Decode up to the kept span's end, reading each frame's presentation timestamp.

        A frame is kept when start <= its time < end (the first frame at or after start always is).
        Times are from the first decoded frame; a frame without a usable timestamp (missing, or not after
        the previous one) is put 1 / fps after the previous frame.
        """
        start, end, _ = trim.bounds()
        slack = 1e-6 / fps  # what `ceil(start * fps - 1e-6)` allowed when frame i was at i / fps
        times: list[float] = []
        origin = None
        first, first_frame, kept, more = None, None, 0, False
        while capture.grab():
            raw = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
            if origin is None:
                origin = raw if math.isfinite(raw) else 0.0
            time = raw - origin
            if times and not (math.isfinite(time) and time > times[-1]):
                time = times[-1] + 1 / fps
            elif not times:
                time = 0.0
            times.append(time)
            if first is None:
                if time < start - slack:
                    continue
                ok, first_frame = capture.retrieve()
                if not ok:
                    raise InputError(f"{path} stopped decoding at {time:.3f} s; check the file or re-encode it")
                first = len(times) - 1
            elif end is not None and time >= end - slack:
                more = True
                break
            kept += 1
        if not times:
            if declared > 0:
                raise InputError(
                    f"{path} is truncated or corrupted: none of its {declared} frames decode; "
                    "use a complete copy or re-encode it"
                )
            raise InputError(f"{path} has no frames OpenCV can decode (zero frames); check the file or re-encode it")
        if first is None:
            raise InputError(
                f"--start {start:.3f} s is after the end of {path} "
                f"({_span_end(times, fps):.3f} s); choose an earlier --start"
            )
        if not more and declared > len(times) * (1 + FRAME_COUNT_SLACK) + 1:
            raise InputError(
                f"{path} is truncated or corrupted: only {len(times)} of its {declared} "
                "frames decode; use a complete copy or re-encode it"
            )
        return _Scan(first_frame, first, times, kept, more)

    def _frames(self) -> Iterator[np.ndarray]:
        # The first pass goes on from the capture that decoded the first frame while opening (no second
        # open and decoder start, about 50 ms); a further pass decodes afresh.
        primed, self._primed = self._primed, None
        capture = primed or self._open(self.info.path)
        try:
            if primed is None:
                for _ in range(self._first):
                    capture.grab()
            for index in range(self.info.num_frames):
                if primed is not None and index == 0:
                    ok, frame, self._first_frame = True, self._first_frame, None
                else:
                    ok, frame = capture.read()
                if not ok:
                    raise InputError(
                        f"{self.info.path} stopped decoding at frame {index}; check the file or re-encode it"
                    )
                yield to_rgb(frame)
        finally:
            capture.release()


class FramesDirSource(VideoSource):
    def __init__(self, path: Path, fps: float | None, trim: Trim, reporter=None):
        files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file()),
            key=lambda p: natural_key(p.name),
        )
        if not files:
            raise InputError(
                f"frames directory {path} has no .jpg, .jpeg or .png files; put the frames there or pass a video file"
            )
        fps = fps or DEFAULT_FRAMES_FPS
        span = trim.span(fps)
        if span.first >= len(files):
            raise InputError(
                f"--start {span.first / fps:.3f} s is after the end of {path} "
                f"({len(files)} frames at {fps:g} fps = {len(files) / fps:.3f} s); "
                "choose an earlier --start"
            )
        kept = files[span.first : span.stop]
        if span.limited_by_max_seconds and span.stop < len(files) and reporter is not None:
            reporter.warn(
                f"kept frames {span.first}-{span.first + len(kept) - 1} "
                f"({len(kept) / fps:.2f} s at {fps:g} fps) "
                f"of {len(files)}; use --max-seconds 0 or --end to keep more"
            )
        _check_unique_stems(kept)
        first_frame = self._read(kept[0])
        _check_size(first_frame, kept[0])
        height, width = first_frame.shape[:2]
        self.files = kept
        self.info = VideoInfo(
            path=path,
            is_frames_dir=True,
            fps=fps,
            width=width,
            height=height,
            num_frames=len(kept),
            start=span.first / fps,
            end=(span.first + len(kept)) / fps,
            names=[p.stem for p in kept],
            has_audio=False,
        )

    @staticmethod
    def _read(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
        """One frame as RGB; `size` (width, height): the first frame's, which the header must match
        (either way round: EXIF rotation is applied after) before the frame is decoded."""
        header = read_header(path, "frame")
        if size is not None and sorted((header.width, header.height)) != sorted(size):
            raise InputError(
                f"frame {path} is {header.width}x{header.height} but the first frame is "
                f"{size[0]}x{size[1]}; all frames must have one size"
            )
        # IMREAD_COLOR applies EXIF rotation and converts grayscale, alpha and 16-bit images to 8-bit BGR.
        image, _ = read_image(path, cv2.IMREAD_COLOR, "frame")
        return to_rgb(image)

    def _frames(self) -> Iterator[np.ndarray]:
        for file in self.files:
            frame = self._read(file, (self.info.width, self.info.height))
            if frame.shape[:2] != (self.info.height, self.info.width):
                raise InputError(
                    f"frame {file} is {frame.shape[1]}x{frame.shape[0]} but the first frame is "
                    f"{self.info.width}x{self.info.height}; all frames must have one size"
                )
            yield frame


def _vfr_note(path: Path, times: list[float], end: float, fps: float) -> str:
    intervals = [b - a for a, b in zip(times, [*times[1:], end])]
    low, high = (f"{1 / d:.3g}" for d in (max(intervals), min(intervals)))
    rates = f"{low} fps" if low == high else f"{low}-{high} fps"
    return (
        f"{printable_path(path.name)} has a variable frame rate ({rates}, {len(times)} frames in "
        f"{end - times[0]:.2f} s, declared {fps:.3g} fps): trimming and the overlay follow each frame's timestamp"
    )


def check_clip_numbers(fps: float | None, max_seconds: float) -> None:
    """--fps positive, --max-seconds 0 or positive, both finite."""
    if fps is not None and not 0 < fps < math.inf:
        raise InputError(f"--fps {fps:g} must be a positive number of frames per second")
    if not 0 <= max_seconds < math.inf:
        raise InputError(f"--max-seconds {max_seconds:g} must be 0 (no limit) or a positive number of seconds")


def open_video(
    path: str | os.PathLike,
    fps: float | None = None,
    start: str | float | None = None,
    end: str | float | None = None,
    max_seconds: float = 10.0,
    reporter=None,
) -> VideoSource:
    """Open a video file or a frames directory and fix the kept span.

    start/end: seconds or `[hh:]mm:ss[.ms]`; without `end` at most `max_seconds` are kept (0 = all).
    Raises InputError for anything unusable.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist; pass a video file or a directory of frames")
    check_clip_numbers(fps, max_seconds)
    trim = Trim(parse_time(start, "--start"), parse_time(end, "--end"), max_seconds)
    if path.is_dir():
        return FramesDirSource(path, fps, trim, reporter)
    return VideoFileSource(path, fps, trim, reporter)
