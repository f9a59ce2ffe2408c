"""RVOS_* environment variables: parsed in one place, a bad value is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rvos_cli import settings
from rvos_cli.cli import app
from rvos_cli.errors import InputError

runner = CliRunner()


def test_defaults(monkeypatch, tmp_path):
    for name in (
        "RVOS_HOME",
        "RVOS_REGISTRY",
        "RVOS_OFFLINE",
        "RVOS_RETRIES",
        "RVOS_RETRY_BACKOFF",
        "RVOS_TIMEOUT",
        "RVOS_MODELSCOPE_ENDPOINT",
        "RVOS_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = settings.current()
    assert config.home == tmp_path / "rvos"
    assert (config.registry, config.offline, config.retries, config.retry_backoff, config.timeout, config.debug) == (
        None,
        False,
        3,
        1.0,
        30.0,
        False,
    )
    assert config.modelscope_endpoint == "https://modelscope.cn"


def test_values_are_read_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("RVOS_RETRIES", " 7 ")
    monkeypatch.setenv("RVOS_OFFLINE", "yes")
    monkeypatch.setenv("RVOS_MODELSCOPE_ENDPOINT", "http://127.0.0.1:9/")
    config = settings.current()
    assert config.home == tmp_path / "cache" and config.retries == 7 and config.offline
    assert config.modelscope_endpoint == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("RVOS_RETRIES", "abc", "whole number"),
        ("RVOS_RETRIES", "2.5", "whole number"),
        ("RVOS_RETRIES", "-1", "0 or more"),
        ("RVOS_TIMEOUT", "0", "greater than 0"),
        ("RVOS_TIMEOUT", "nan", "greater than 0"),
        ("RVOS_RETRY_BACKOFF", "soon", "a number"),
        ("RVOS_OFFLINE", "maybe", "yes/no"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=f"{name}=.*{words}"):
        settings.current()


def test_bad_value_is_one_error_line_from_the_cli(monkeypatch, tmp_path):
    monkeypatch.setenv("RVOS_HOME", str(tmp_path))
    monkeypatch.setenv("RVOS_RETRIES", "abc")
    result = runner.invoke(app, ["download", "mttr-ytvos"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: RVOS_RETRIES='abc' is not a whole number; set it to e.g. RVOS_RETRIES=3, or unset it"]
    assert not list(Path(tmp_path).glob("mttr-ytvos/*"))
