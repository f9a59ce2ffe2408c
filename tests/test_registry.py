"""weights.yaml: the built-in entries, overrides, schema errors and the cache location."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rvos_cli.errors import InputError, MissingWeightsError
from rvos_cli.weights import cache_root, load_registry, locate_checkpoint, registry_entry
from rvos_cli.weights.registry import BUILTIN_REGISTRY

MTTR_SHA = "ee299bc1170a6f2cea9e6027dd154459ef63ba1a5dbe08857bf552d0e8aeb67e"


@pytest.fixture(autouse=True)
def no_user_registry(monkeypatch):
    monkeypatch.delenv("RVOS_REGISTRY", raising=False)


def test_builtin_registry_entries():
    entries = load_registry()
    assert {"mttr-ytvos", "mttr-a2d", "rdevos-ytvos", "rdevos-davis"} <= set(entries)
    ytvos = entries["mttr-ytvos"]
    checkpoint = next(f for f in ytvos.files if f.role == "checkpoint")
    assert (ytvos.model, ytvos.task) == ("mttr", "refer")
    assert checkpoint.path == "refer-youtube-vos_window-12.pth.tar" and checkpoint.sha256 == MTTR_SHA
    assert checkpoint.urls[0].startswith("https://huggingface.co/spaces/MTTR/")
    assert "gdrive://1R_F0ETKipENiJUnVwarHnkPmUIcKXRaL" in checkpoint.urls
    for name in ("mttr-ytvos", "mttr-a2d"):
        paths = {f.path for f in entries[name].files}
        assert {"vocab.json", "merges.txt", "config.json"} <= paths
    assert entries["rdevos-ytvos"].defaults == {"mem_every": 4, "top_k": 20}
    assert entries["rdevos-davis"].defaults == {"mem_every": 3, "top_k": 40}
    assert entries["rdevos-ytvos"].files[0].urls[0].startswith("modelscope://damo/cv_rdevos_video-object-segmentation/")


def test_registry_ships_as_one_real_file():
    assert BUILTIN_REGISTRY.is_file() and not BUILTIN_REGISTRY.is_symlink()
    top = Path(__file__).resolve().parents[1] / "weights.yaml"
    if top.exists():
        assert top.resolve() == BUILTIN_REGISTRY.resolve()


def write(path: Path, body) -> Path:
    path.write_text(yaml.safe_dump(body))
    return path


ENTRY = {"model": "none", "files": [{"path": "a.txt", "urls": ["https://example.org/a.txt"]}]}


def test_overrides_env_then_option(tmp_path, monkeypatch):
    env_file = write(tmp_path / "env.yaml", {"extra": ENTRY, "mttr-ytvos": {**ENTRY, "description": "mine"}})
    option_file = write(tmp_path / "opt.yaml", {"extra": {**ENTRY, "description": "option wins"}})
    monkeypatch.setenv("RVOS_REGISTRY", str(env_file))
    entries = load_registry(option_file)
    assert entries["mttr-ytvos"].description == "mine"
    assert entries["extra"].description == "option wins"
    assert "rdevos-davis" in entries


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": "detr"}, "model must be one of"),
        ({"model": "mttr"}, "task is required"),
        ({"model": "mttr", "task": "refer"}, "exactly one file with role checkpoint"),
        ({"fles": []}, "unknown field 'fles'"),
        ({"files": [{"path": "a", "sha256": "abc", "urls": ["https://x"]}]}, "sha256 must be 64 hex"),
        ({"files": [{"path": "../a", "urls": ["https://x"]}]}, "relative file name"),
        ({"files": [{"path": "a", "urls": ["ftp://x"]}]}, "unsupported URL"),
        ({"files": [{"path": "a", "size": -1, "urls": ["https://x"]}]}, "size must be"),
    ],
)
def test_schema_errors_are_clear(tmp_path, change, message):
    path = write(tmp_path / "bad.yaml", {"bad": {**ENTRY, **change}})
    with pytest.raises(InputError, match=message) as info:
        load_registry(path)
    assert "entry 'bad'" in str(info.value)


def test_unknown_name_lists_known_ones():
    with pytest.raises(InputError, match="known names: .*mttr-ytvos"):
        registry_entry("mttr-nope")


def test_missing_registry_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_registry(tmp_path / "nope.yaml")


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("RVOS_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache_root() == tmp_path / "h" / ".cache" / "rvos"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "rvos"
    monkeypatch.setenv("RVOS_HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_missing_weights_name_the_command(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"`rvos download mttr-ytvos --cache-dir .*`") as info:
        locate_checkpoint("mttr-ytvos", cache_dir=tmp_path)
    assert info.value.exit_code == 3


def test_referformer_and_soc_entries_name_their_tokenizer():
    entries = load_registry()
    referformer = [e for e in entries.values() if e.model == "referformer"]
    soc = [e for e in entries.values() if e.model == "soc"]
    assert len(referformer) == 16 and len(soc) == 8
    assert entries["referformer-ytvos-vswin-b"].accuracy == "Ref-YouTube-VOS val J&F 62.9"
    assert entries["soc-ytvos-joint-b"].checkpoint.urls == ("gdrive://1SaDLcQOn_a1L-Bw8LGB2CiQIGkZAO3Wu",)
    for entry in referformer + soc:
        assert entry.task == "refer" and entries[entry.tokenizer].has_tokenizer


def test_every_entry_has_a_size_to_show(tmp_path):
    """`rvos models` shows each entry's size, exact or approximate (`~598 MB`), never `?` (issue 24)."""
    from rvos_cli.weights import describe
    from rvos_cli.weights.display import models_table

    rows = [describe(entry, tmp_path) for entry in load_registry().values()]
    assert all(row["size"] for row in rows)
    table = models_table(rows)
    sizes = list(table.columns[2].cells)
    assert "?" not in sizes and any(size.startswith("~") for size in sizes)
    mttr = next(row for row in rows if row["name"] == "mttr-ytvos")
    assert not mttr["size_exact"] and 590e6 < mttr["size"] < 610e6
