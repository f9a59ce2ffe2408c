"""Shared test helpers: the parity fixtures in ../shared/fixtures.

Tests that need the fixtures skip where they are absent (a user's clone) but fail
when CI is set, because CI always has them and a silent skip would hide a broken port.
"""

from __future__ import annotations

import importlib.util
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
