"""Variable-frame-rate input: frames are read, trimmed and written at their own timestamps.

The VFR clip is the synthetic sample re-timed by ffmpeg: its first second at 10 fps, the next at
25 fps, with the sample's audio tone. A constant-rate clip checks that the CFR path is unchanged.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.errors import OutputError
from rvos_cli.video import Mp4Writer, OverlayVideoWriter, open_video
from rvos_cli.video.ffmpeg import ffmpeg_exe, stream_kinds
from rvos_cli.video.synthetic import write_sample

# Frame times of the VFR clip: 0.0, 0.1, ..., 0.9, then 1.00, 1.04, ..., 1.96.
VFR_TIMES = [i / 10 for i in range(10)] + [1 + i / 25 for i in range(25)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """(cfr.mp4 at 25 fps, vfr.mp4 at 10 then 25 fps, the first-frame mask both share), all with audio."""
    folder = tmp_path_factory.mktemp("vfr")
    mask = write_sample(folder / "cfr.mp4", seconds=2, fps=25, width=160, height=120)
    graph = (
        "[0:v]split[x][y];[x]trim=end=1,fps=10[a];[y]trim=start=1,setpts=PTS-STARTPTS[b];"
        "[a][b]concat=n=2:v=1:a=0,settb=1/1000[v]"
    )
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(folder / "cfr.mp4"), "-filter_complex", graph]
        + ["-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-fps_mode", "vfr"]
        + ["-c:a", "copy", str(folder / "vfr.mp4")],
        check=True,
    )
    return folder / "cfr.mp4", folder / "vfr.mp4", mask


@pytest.fixture
def work(tmp_path, clips, monkeypatch):
    for path in clips:
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RVOS_HOME", str(tmp_path.parent / f"{tmp_path.name}-cache"))
    return tmp_path


def rvos(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def frame_times(path) -> list[float]:
    """Each video frame's presentation time in seconds, as ffmpeg's showinfo reports it."""
    log = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return [float(t) for t in re.findall(r"pts_time:\s*([-0-9.]+)", log)]


def stream_seconds(path, kind: str) -> float:
    """How long one stream of a file plays: the last `time=` ffmpeg reports decoding it alone."""
    log = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", f"0:{kind}:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):([0-9.]+)", log)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def assert_same_times(overlay: list[float], source: list[float]) -> None:
    """Frame for frame within one frame interval of the source (in practice within a millisecond)."""
    assert len(overlay) == len(source)
    intervals = [b - a for a, b in zip(source, source[1:])] or [1.0]
    for i, (got, want) in enumerate(zip(overlay, source)):
        assert abs(got - want) < min(intervals[max(0, i - 1) : i + 1]), (i, got, want)
    assert max(abs(a - b) for a, b in zip(overlay, source)) < 0.002


def test_the_clip_is_variable_rate(clips):
    assert frame_times(clips[1]) == pytest.approx(VFR_TIMES, abs=1e-3)


def test_reader_keeps_timestamps_and_flags_vfr(clips):
    notes = []

    class Reporter:
        def note(self, message):
            notes.append(message)

        def warn(self, message):
            notes.append("warning: " + message)

    info = open_video(clips[1], max_seconds=0, reporter=Reporter()).info
    assert info.vfr and info.num_frames == 35
    assert info.timestamps == pytest.approx(VFR_TIMES, abs=1e-3)
    assert (info.start, info.end) == pytest.approx((0.0, 2.0), abs=1e-3)
    assert len(notes) == 1 and "variable frame rate (10-25 fps" in notes[0]


def test_vfr_overlay_shows_each_frame_at_its_source_time_with_audio(work):
    result = rvos(
        "propagate", "vfr.mp4", "--mask", "cfr.mask.png", "--model", "flow", "--video", "out.mp4", "-o", "masks"
    )
    assert result.exit_code == 0, result.output
    assert "variable frame rate" in result.output
    source = frame_times(work / "vfr.mp4")
    assert sorted(p.name for p in (work / "masks").iterdir()) == [f"{i:05d}.png" for i in range(len(source))]
    assert_same_times(frame_times(work / "out.mp4"), source)
    assert stream_kinds(work / "out.mp4") == {"Video", "Audio"}
    assert stream_seconds(work / "out.mp4", "a") == pytest.approx(2.0, abs=0.05)
    assert sorted(p.name for p in work.iterdir()) == ["cfr.mask.png", "cfr.mp4", "masks", "out.mp4", "vfr.mp4"]


def test_vfr_start_end_select_by_timestamp(work):
    # By timestamps --start 0.95 --end 1.5 keeps 1.00, 1.04, ..., 1.48; frame i / fps (16.5 fps) would start at 1.24.
    result = rvos(
        "propagate", "vfr.mp4", "--mask", "cfr.mask.png", "--model", "flow", "--video", "out.mp4", "-o", "masks",
        "--start", "0.95", "--end", "1.5", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    kept = [t for t in VFR_TIMES if 0.95 <= t < 1.5 - 1e-9]
    assert summary["frames"] == len(kept) == 13
    assert (summary["start"], summary["end"]) == pytest.approx((1.0, 1.52), abs=1e-3)
    assert len(list((work / "masks").iterdir())) == 13
    assert_same_times(frame_times(work / "out.mp4"), [t - 1.0 for t in kept])
    assert stream_seconds(work / "out.mp4", "a") == pytest.approx(0.52, abs=0.05)


def test_cfr_input_keeps_the_constant_rate_path(work):
    info = open_video(work / "cfr.mp4", start=0.5, end=1.5).info
    assert not info.vfr and info.num_frames == 25
    assert (info.start, info.end) == (13 / 25, 38 / 25)  # frames 13-37, as i / fps always gave
    writer = OverlayVideoWriter(work / "x.mp4", info)
    assert writer.durations is None
    command = writer._command(work / "tmp.mp4")
    assert command[command.index("-f") : command.index("-i") + 2] == [
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-r", "25", "-i", "-",
    ]  # fmt: skip
    assert "-fps_mode" not in command and command[command.index("yuv420p") + 1 : command.index("yuv420p") + 3] == [
        "-r",
        "25",
    ]
    result = rvos("propagate", "cfr.mp4", "--mask", "cfr.mask.png", "--model", "flow", "--video", "out.mp4", "-o", "m")
    assert result.exit_code == 0, result.output
    assert "variable frame rate" not in result.output
    assert len(list((work / "m").iterdir())) == 50
    assert frame_times(work / "out.mp4") == pytest.approx([i / 25 for i in range(50)], abs=1e-6)
    out = open_video(work / "out.mp4", max_seconds=0).info
    assert (out.fps, out.num_frames, out.vfr) == (25.0, 50, False)


def test_vfr_writer_cleans_up_on_error_and_on_ffmpeg_failure(tmp_path):
    frame = np.zeros((24, 32, 3), np.uint8)
    with pytest.raises(RuntimeError):
        with Mp4Writer(tmp_path / "x.mp4", 32, 24, 10, durations=[0.1, 0.04]) as writer:
            writer.write(frame)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    missing = ["-i", str(tmp_path / "no-such-audio.m4a")]
    with pytest.raises(OutputError, match="ffmpeg could not write"):
        with Mp4Writer(tmp_path / "x.mp4", 32, 24, 10, audio=missing, durations=[0.1, 0.04]) as writer:
            writer.write(frame)
            writer.write(frame)
    assert list(tmp_path.iterdir()) == []


def test_vfr_avi_is_resampled_to_the_fastest_rate(clips, tmp_path):
    """AVI holds one rate: 25 fps here, each 10 fps frame shown for 2.5 frames, about 2 s in all."""
    source = open_video(clips[1], max_seconds=0)
    with OverlayVideoWriter(tmp_path / "out.avi", source.info) as writer:
        for _, frame in source:
            writer.write(frame)
    info = open_video(tmp_path / "out.avi", max_seconds=0).info
    assert (info.fps, info.vfr) == (25.0, False) and info.num_frames in (49, 50)  # ffmpeg may end at 1.92 s
    assert [p.name for p in tmp_path.iterdir()] == ["out.avi"]


@pytest.mark.parametrize("name", ["cfr.mp4", "vfr.mp4"])
@pytest.mark.parametrize("start, end", [(None, None), (0.5, None), (0.3, 1.5), (None, 1.02), (1.9, None)])
def test_packet_scan_finds_what_decoding_finds(clips, name, start, end):
    """An MP4's span from its packets' timestamps (no decoding) equals the span one decode pass finds."""
    import cv2

    from rvos_cli.video.reader import Trim, VideoFileSource, _Capture

    path = clips[0].parent / name
    trim = Trim(start, end, 0)
    capture = _Capture(path)
    fps, declared = capture.get(cv2.CAP_PROP_FPS), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    decoded = VideoFileSource._scan(capture, path, fps, trim, declared)
    capture.release()
    packets = VideoFileSource._scan_packets(path, fps, trim, declared)
    assert packets is not None
    assert (packets.first, packets.kept, packets.more) == (decoded.first, decoded.kept, decoded.more)
    assert packets.times == pytest.approx(decoded.times, abs=1e-6)
    assert np.array_equal(packets.first_frame, decoded.first_frame)


def test_packet_scan_defers_to_decoding_where_samples_are_not_frames(clips, tmp_path):
    """A truncated MP4 (fewer samples than its index declares) and a non-MP4 container are left to `_scan`."""
    import cv2

    from rvos_cli.video.reader import Trim, VideoFileSource

    cut = tmp_path / "cut.mp4"
    data = clips[0].read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    mkv = tmp_path / "clip.mkv"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(clips[0]), "-c", "copy", str(mkv)], check=True)
    for path in (cut, mkv):
        capture = cv2.VideoCapture(str(path))
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        assert VideoFileSource._scan_packets(path, 25.0, Trim(None, None, 0), declared) is None
