"""Shared test helpers: the parity fixtures in ../shared/fixtures.

Tests that need the fixtures skip where they are absent (a user's clone) but fail
when CI is set, because CI always has them and a silent skip would hide a broken port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(os.environ.get("RVOS_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "random_weights.py").is_file():
        message = f"parity fixtures not found at {FIXTURES}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must have them)")
        pytest.skip(message)
    return FIXTURES


@pytest.fixture(scope="session")
def random_weights(fixtures_dir):
    """The fixtures' `random_weights` module (load_manifest, random_state_dict)."""
    spec = importlib.util.spec_from_file_location("rvos_random_weights", fixtures_dir / "random_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frames_to_tensor(frames, size=None):
    """RGB uint8 frames [T, H0, W0, 3] -> normalized video [T, 3, h, w] float32, composed as the originals'
    `inference_ytvos.transform` (resize, then normalise): the reference the pipeline's split stages must
    equal. size defaults to `resized_size` of the frames (short side 360, no bound on the long side)."""
    import numpy as np
    import torch

    from rvos_cli.models.common.frames import normalize_video, resize_bilinear_pil, resized_size

    size = size or resized_size(*np.asarray(frames[0]).shape[:2])
    resized = np.stack([resize_bilinear_pil(np.asarray(frame), size) for frame in frames])
    return normalize_video(torch.from_numpy(resized))


def write_tiny_tokenizer(folder: Path) -> Path:
    """A RoBERTa-format byte-level BPE vocabulary of a few tokens ("a", "b", "ab", "c" and their
    space-prefixed forms), so that tokenization is predictable in tests."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "a", "b", "Ġ", "Ġa", "ab", "Ġab", "c", "Ġc"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\nĠ a\na b\nĠa b\nĠ c\n")
    return folder


def workdir(folder: Path, files, monkeypatch) -> Path:
    """`folder` holding copies of `files`, made the current folder, with an empty weights cache beside
    it (so `--model auto` is flow)."""
    for path in files:
        shutil.copy(path, folder / Path(path).name)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("RVOS_HOME", str(folder.parent / f"{folder.name}-cache"))
    return folder


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> tuple[Path, Path]:
    """A 0.5 s, 8 fps, 64x48 clip without audio and its first-frame mask (objects 1 and 2)."""
    from rvos_cli.video.synthetic import write_sample

    folder = tmp_path_factory.mktemp("tiny")
    mask = write_sample(folder / "clip.mp4", seconds=0.5, fps=8, width=64, height=48, audio=False)
    return folder / "clip.mp4", mask


@pytest.fixture
def tiny_work(tmp_path, tiny_clip, monkeypatch) -> Path:
    """A fresh current folder holding clip.mp4 and clip.mask.png (`tiny_clip`)."""
    return workdir(tmp_path, tiny_clip, monkeypatch)


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module of tiny models: faster than two, and far faster on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
