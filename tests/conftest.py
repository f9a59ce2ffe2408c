"""Shared test helpers: the parity fixtures in ../shared/fixtures.

Tests that need the fixtures skip where they are absent (a user's clone) but fail
when CI is set, because CI always has them and a silent skip would hide a broken port.
"""

from __future__ import annotations

import importlib.util
import json
import os
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


def write_tiny_tokenizer(folder: Path) -> Path:
    """A RoBERTa-format byte-level BPE vocabulary of a few tokens ("a", "b", "ab", "c" and their
    space-prefixed forms), so that tokenization is predictable in tests."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "a", "b", "Ġ", "Ġa", "ab", "Ġab", "c", "Ġc"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\nĠ a\na b\nĠa b\nĠ c\n")
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module of tiny models: faster than two, and far faster on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
