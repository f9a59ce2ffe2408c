"""Video input and MP4 output: decode, trimming, frames folders, rotation, odd sizes, audio."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from rvos_cli.errors import InputError
from rvos_cli.ui import Reporter
from rvos_cli.video import Mp4Writer, OverlayVideoWriter, open_video
from rvos_cli.video.ffmpeg import ffmpeg_exe, stream_kinds
from rvos_cli.video.synthetic import synthetic_clip, write_sample
from rvos_cli.video.timecode import parse_time

FPS, SIZE = 24, (160, 120)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 2 s, 48-frame 160x120 MP4 with audio."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_sample(path, seconds=2.0, fps=FPS, width=SIZE[0], height=SIZE[1], audio=True)
    return path


def _truth(count=48):
    return [frame for frame, _ in synthetic_clip(count, *SIZE, cycle=3 * FPS)]


def _closest(frame, truth):
    return int(np.argmin([np.abs(frame.astype(int) - t).mean() for t in truth]))


def _frames(source):
    return [frame for _, frame in source]


def test_decode_whole_clip(clip):
    source = open_video(clip)
    info = source.info
    assert (info.num_frames, info.fps, info.width, info.height) == (48, 24.0, 160, 120)
    assert info.has_audio and not info.is_frames_dir
    assert info.names[:2] == ["00000", "00001"] and len(info.names) == 48
    frames = _frames(source)
    assert len(frames) == 48 and frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    truth = _truth()
    assert np.abs(frames[10].astype(int) - truth[10]).mean() < 6  # RGB order and H.264 quality
    assert _closest(frames[10], truth) == 10


@pytest.mark.parametrize(
    "start, end, first, count",
    [
        (0.5, 1.25, 12, 18),
        ("00:00.5", "0:00:01.25", 12, 18),
        (0.51, None, 13, 35),  # the first frame shown at or after 0.51 s is frame 13 (0.5417 s)
    ],
)
def test_trim_boundaries_are_exact(clip, start, end, first, count):
    source = open_video(clip, start=start, end=end)
    assert source.info.num_frames == count
    assert source.info.start == pytest.approx(first / FPS)
    assert source.info.end == pytest.approx((first + count) / FPS)
    frames = _frames(source)
    assert len(frames) == count
    truth = _truth()
    assert _closest(frames[0], truth) == first
    assert _closest(frames[-1], truth) == first + count - 1


def test_max_seconds_trims_with_one_warning(clip, capsys):
    source = open_video(clip, max_seconds=1.0, reporter=Reporter())
    assert source.info.num_frames == 24 and len(_frames(source)) == 24
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: kept") and "--max-seconds 0" in lines[0]
    assert open_video(clip, max_seconds=0, reporter=Reporter()).info.num_frames == 48
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("text, seconds", [("12.5", 12.5), ("1:02.5", 62.5), ("1:00:00", 3600.0), (None, None)])
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-1", "1:2:3:4", "", "nan", "inf", "1:-5", "0:inf"])
def test_parse_time_rejects(text):
    with pytest.raises(InputError):
        parse_time(text)


@pytest.mark.parametrize(
    "option", [{"fps": float("inf")}, {"max_seconds": float("nan")}, {"max_seconds": float("inf")}]
)
def test_non_finite_rates_and_limits_are_refused(clip, option):
    with pytest.raises(InputError):
        open_video(clip, **option)


def _write_frames(folder, names, shape=(24, 32)):
    folder.mkdir()
    for value, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((*shape, 3), value * 10, np.uint8))


def test_frames_dir_natural_order_and_fps(tmp_path):
    names = [f"{i}.png" for i in range(1, 13)]
    _write_frames(tmp_path / "frames", names)
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    source = open_video(tmp_path / "frames")
    assert source.info.names == [str(i) for i in range(1, 13)]
    assert source.info.fps == 24.0 and source.info.is_frames_dir and not source.info.has_audio
    assert [int(frame[0, 0, 0]) for frame in _frames(source)] == [i * 10 for i in range(12)]
    trimmed = open_video(tmp_path / "frames", fps=10, start=0.5, end=0.8)
    assert trimmed.info.names == ["6", "7", "8"] and trimmed.info.fps == 10.0


def test_frames_sharing_a_stem_are_refused(tmp_path):
    """a.jpg and a.png would both be written as the mask a.png: one frame's mask silently lost."""
    _write_frames(tmp_path / "frames", ["a.jpg", "a.png", "b.jpg"])
    with pytest.raises(InputError, match="frames a.jpg and a.png .* share the name 'a'"):
        open_video(tmp_path / "frames")


def test_frames_dir_converts_grayscale_and_rgba(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((8, 10), 77, np.uint8))
    cv2.imwrite(
        str(folder / "b.png"), np.dstack([np.full((8, 10, 3), (10, 20, 30), np.uint8), np.zeros((8, 10), np.uint8)])
    )
    frames = _frames(open_video(folder))
    assert frames[0].shape == frames[1].shape == (8, 10, 3)
    assert frames[0][0, 0].tolist() == [77, 77, 77]
    assert frames[1][0, 0].tolist() == [30, 20, 10]  # BGR(A) on disk -> RGB


def test_one_pixel_frames_are_rejected(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(InputError, match="1x1"):
        open_video(folder)


def test_rotation_metadata_is_applied(clip, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-display_rotation", "90", "-i", str(clip), "-c", "copy", str(rotated)],
        check=True,
    )
    source = open_video(rotated)
    assert (source.info.width, source.info.height) == (120, 160)
    assert _frames(source)[0].shape == (160, 120, 3)


def test_odd_size_output_is_padded_to_even(tmp_path):
    path = tmp_path / "odd.mp4"
    frames = [frame[:25, :33] for frame, _ in synthetic_clip(5, 40, 30)]
    with Mp4Writer(path, 33, 25, 12.5) as writer:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame))
    info = open_video(path).info
    assert (info.width, info.height, info.num_frames, info.fps) == (34, 26, 5, 12.5)
    assert not info.has_audio


def test_overlay_video_keeps_frames_fps_and_audio_of_the_span(clip, tmp_path):
    source = open_video(clip, start=0.5, end=1.5)
    out = tmp_path / "overlay.mp4"
    with OverlayVideoWriter(out, source.info) as writer:
        for _, frame in source:
            writer.write(frame)
    info = open_video(out).info
    assert (info.num_frames, info.fps, info.width, info.height) == (24, 24.0, 160, 120)
    assert stream_kinds(out) == {"Video", "Audio"}
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.mp4"]


def test_overlay_video_without_audio_when_input_has_none(tmp_path):
    folder = tmp_path / "frames"
    _write_frames(folder, ["0.png", "1.png", "2.png"])
    source = open_video(folder)
    with OverlayVideoWriter(tmp_path / "out.mp4", source.info) as writer:
        for _, frame in source:
            writer.write(frame)
    assert stream_kinds(tmp_path / "out.mp4") == {"Video"}


def test_short_audio_does_not_shorten_the_video(tmp_path):
    tone = ["-f", "lavfi", "-i", "sine=duration=0.2"]
    with Mp4Writer(tmp_path / "a.mp4", 32, 24, 10, audio=tone) as writer:
        for _ in range(10):
            writer.write(np.zeros((24, 32, 3), np.uint8))
    assert open_video(tmp_path / "a.mp4").info.num_frames == 10
    assert stream_kinds(tmp_path / "a.mp4") == {"Video", "Audio"}


def test_mp4_writer_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with Mp4Writer(tmp_path / "x.mp4", 32, 24, 24) as writer:
            writer.write(np.zeros((24, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("start", [None, 0.5])
def test_every_pass_gives_the_same_frames(clip, start):
    """The first pass goes on from the capture that opening left after the first kept frame; a later
    pass decodes afresh; both give the same frames."""
    source = open_video(clip, start=start, end=1.25)
    first, again = _frames(source), _frames(source)
    assert len(first) == len(again) == source.info.num_frames
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
