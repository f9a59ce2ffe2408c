"""Atomic outputs: an H.264 video piped through ffmpeg, and folders of per-frame mask PNGs.

Every OSError while writing (full disk, permissions) is one OutputError (exit 5) naming the path
and the cause; the partial output is removed as on any other error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from rvos_cli.atomic import atomic_dir, atomic_file, new_dir
from rvos_cli.errors import OutputError, output_error
from rvos_cli.video.ffmpeg import ffmpeg_exe
from rvos_cli.video.outputs import VIDEO_CONTAINERS, check_output, check_replaceable_dir
from rvos_cli.video.palette import DAVIS_PALETTE, PNG_SIGNATURE, _chunk
from rvos_cli.video.reader import VideoInfo

MAX_VFR_AVI_RATE = 120.0  # a variable-rate source written as AVI is resampled to at most this rate


class Mp4Writer:
    """H.264 yuv420p video from HxWx3 uint8 RGB frames; odd sizes are padded by one black pixel.

    The extension picks the container: .mp4 (default for other names), .mov, .mkv or .avi.
    `audio` is a list of ffmpeg input arguments (e.g. `["-ss", "2", "-t", "3", "-i", "in.mp4"]`)
    whose first audio stream is encoded to AAC (MP3 in AVI); the arguments should cut it to the
    video's span. The file appears under its name only when the writer closes without error.

    `durations` (seconds, one per frame) gives a variable frame rate: frame i starts at the sum of
    the durations before it. The frames then go as PNGs to a temporary folder beside the output and
    are encoded when the writer closes, from an ffconcat list that times each one; without it frames
    are piped to ffmpeg at the constant `fps` as they come.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float,
        audio: list[str] | None = None,
        durations: Sequence[float] | None = None,
    ):
        self.path = Path(path)
        self.size = (height, width)
        self.fps = fps
        self.audio = audio
        self.durations = list(durations) if durations is not None else None
        self._stack = contextlib.ExitStack()
        self._process: subprocess.Popen | None = None
        self._frames_dir: Path | None = None
        self._count = 0

    def _command(self, tmp: Path) -> list[str]:
        height, width = self.size
        rate = str(Fraction(self.fps).limit_denominator(1001))
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        if self._frames_dir is not None:
            command += ["-f", "concat", "-safe", "0", "-i", os.fspath(self._frames_dir / "frames.ffconcat")]
        else:
            command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", rate, "-i", "-"]
        if self.audio:
            command += self.audio
        command += [
            "-map",
            "0:v:0",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
        ]
        container = VIDEO_CONTAINERS.get(self.path.suffix.lower(), "mp4")
        if self._frames_dir is not None and container == "avi":
            # AVI holds one constant rate: the fastest of the source's, frames repeated to keep their times.
            fastest = min(MAX_VFR_AVI_RATE, 1 / min(self.durations[: self._count] or [1 / self.fps]))
            command += ["-fps_mode", "cfr", "-r", str(Fraction(fastest).limit_denominator(1001))]
        elif self._frames_dir is not None:  # each frame keeps the time the list gives it
            command += ["-fps_mode", "passthrough"]
        else:
            command += ["-r", rate]
        if self.audio:
            codec = "libmp3lame" if container == "avi" else "aac"
            command += ["-map", "1:a:0?", "-c:a", codec, "-b:a", "128k"]
        if container in ("mp4", "mov"):
            command += ["-movflags", "+faststart"]
        return command + ["-f", container, os.fspath(tmp)]

    def __enter__(self) -> Mp4Writer:
        self._tmp = self._stack.enter_context(atomic_file(self.path))
        self._log = self._stack.enter_context(tempfile.TemporaryFile())
        if self.durations is not None:
            self._frames_dir = new_dir(self.path, "part.frames")  # named like the output's own temporary
            self._stack.callback(shutil.rmtree, self._frames_dir, ignore_errors=True)
        else:
            self._process = subprocess.Popen(
                self._command(self._tmp), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log
            )
        self._stack.callback(self._kill)
        return self

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (*self.size, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be {self.size[0]}x{self.size[1]}x3 uint8, got {frame.dtype} {frame.shape}")
        if self._frames_dir is not None:
            ok, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            if not ok:
                raise OutputError(f"cannot encode frame {self._count} of {self.path} as PNG")
            try:
                (self._frames_dir / f"{self._count:08d}.png").write_bytes(data.tobytes())
            except OSError as exc:
                raise output_error(self.path, exc) from None
            self._count += 1
            return
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except OSError:  # BrokenPipeError: ffmpeg stopped (a full disk, a bad path); its log says why
            self._process.wait()
            raise self._failure() from None

    def _failure(self) -> OutputError:
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {self._process.returncode}"
        return OutputError(f"ffmpeg could not write {self.path}: {reason}; check the free space and the folder")

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _concat_list(self) -> str:
        """An ffconcat list that shows frame i from the sum of the durations before it.

        Times are rounded to whole microseconds once, so the rounding never adds up; the last frame's
        duration is its sample duration in the output.
        """
        durations = self.durations[: self._count]
        durations += [1 / self.fps] * (self._count - len(durations))
        bounds = [0]
        total = 0.0
        for duration in durations:
            total += duration
            bounds.append(round(total * 1e6))
        # image2 would time each PNG in 1/25 s; a fine frame rate keeps the exact times.
        lines = ["ffconcat version 1.0"]
        for i in range(self._count):
            lines += [f"file {i:08d}.png", "option framerate 1000000", f"duration {bounds[i + 1] - bounds[i]}us"]
        return "\n".join(lines) + "\n"

    def _encode_frames(self) -> None:
        """Encode the PNG folder with each frame at its time (the variable-rate path)."""
        try:
            (self._frames_dir / "frames.ffconcat").write_text(self._concat_list())
        except OSError as exc:
            raise output_error(self.path, exc) from None
        self._process = subprocess.Popen(
            self._command(self._tmp), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log
        )
        if self._process.wait() != 0:
            raise self._failure()

    def _finish(self) -> None:
        if self._frames_dir is not None:
            self._encode_frames()
            return
        try:
            self._process.stdin.close()
        except OSError:
            pass  # the exit code and the log below say what went wrong
        if self._process.wait() != 0:
            raise self._failure()

    def __exit__(self, exc_type, exc, tb) -> bool:
        # Unwinding the stack stops ffmpeg, then renames the file on success or deletes it on error.
        if exc_type is None:
            try:
                self._finish()
            except BaseException as error:
                self._stack.__exit__(type(error), error, error.__traceback__)
                raise
            self._stack.close()
        else:
            self._stack.__exit__(exc_type, exc, tb)
        return False


class OverlayVideoWriter(Mp4Writer):
    """An MP4 matching a source: its size and frame rate, with the audio of the kept span muxed back.

    A variable-frame-rate source (`info.vfr`) gives each frame its source time instead of i / fps.
    """

    def __init__(self, path: str | os.PathLike, info: VideoInfo):
        audio = None
        if info.has_audio:
            audio = ["-ss", f"{info.start:.6f}", "-t", f"{info.end - info.start:.6f}", "-i", os.fspath(info.path)]
        durations = None
        if info.vfr and info.timestamps:  # each frame at its source time, as the audio cut by time expects
            times = list(info.timestamps)
            durations = [b - a for a, b in zip(times, [*times[1:], info.end])]
        super().__init__(path, info.width, info.height, info.fps, audio, durations)


class _PngFolderWriter:
    """A folder of per-frame PNGs that appears under its name only when complete."""

    def __init__(self, out_dir: str | os.PathLike, names: list[str]):
        self.out_dir = check_output(out_dir, [], "output", folder=True)
        check_replaceable_dir(self.out_dir, "output")
        self.names = names
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self.tmp = self._stack.enter_context(atomic_dir(self.out_dir))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return self._stack.__exit__(exc_type, exc, tb)

    def _write_bytes(self, relative: str, data: bytes) -> None:
        """One PNG into the temporary folder; an OSError names the final path and its cause (exit 5)."""
        try:
            (self.tmp / relative).write_bytes(data)
        except OSError as exc:
            raise output_error(self.out_dir / relative, exc) from None


class PaletteWriter(_PngFolderWriter):
    """`write(index, labels)`: labels [H, W] uint8 ids -> OUT_DIR/<names[index]>.png, mode P, DAVIS palette.

    The pixels are those of `encode_palette_png`; the image data is deflated with zlib's run-length
    strategy, which suits label maps (long runs of one id): about twice as fast at 1280x720 and
    smaller files than the default strategy."""

    def write(self, index: int, labels: np.ndarray) -> None:
        self._write_bytes(f"{self.names[index]}.png", encode_labels_png(labels))


def encode_labels_png(labels: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> bytes:
    """PNG bytes (colour type 3, 8 bits) of an [H, W] uint8 label map, as `encode_palette_png` but
    deflated with `zlib.Z_RLE` (the decoded image is the same)."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be an [H, W] uint8 array, got {labels.dtype} {labels.shape}")
    height, width = labels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), labels], axis=1)  # filter byte 0 per row
    deflate = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    data = deflate.compress(rows.tobytes()) + deflate.flush()
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", palette.astype(np.uint8).tobytes())
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


class BinaryMaskWriter(_PngFolderWriter):
    """`write(index, masks)`: masks [Q, H, W] uint8 0/1 -> OUT_DIR/<query>/<names[index]>.png as 0/255.

    queries: the number of queries (folders 0, 1, ...) or each query's folder name (e.g. the
    Ref-YouTube-VOS expression ids).
    """

    def __init__(self, out_dir: str | os.PathLike, names: list[str], queries: int | Sequence[str]):
        super().__init__(out_dir, names)
        self.queries = [str(q) for q in (range(queries) if isinstance(queries, int) else queries)]

    def __enter__(self):
        super().__enter__()
        for query in self.queries:
            (self.tmp / query).mkdir()
        return self

    def write(self, index: int, masks: np.ndarray) -> None:
        if masks.ndim != 3 or masks.shape[0] != len(self.queries):
            raise ValueError(f"masks must be [{len(self.queries)}, H, W], got {masks.shape}")
        for query, mask in zip(self.queries, masks):
            # Encoded in memory and written by Python: any file name works, and a write error is an OSError.
            ok, data = cv2.imencode(".png", (mask > 0).astype(np.uint8) * 255)
            if not ok:
                raise OutputError(f"cannot encode mask {query} of frame {self.names[index]} as PNG")
            self._write_bytes(f"{query}/{self.names[index]}.png", data.tobytes())
