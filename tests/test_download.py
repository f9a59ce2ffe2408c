"""`rvos download` / `rvos models` against a loopback HTTP server (no internet).

The server serves generated files with Range support and can drop the connection
mid-file, answer 404, serve wrong bytes or serve slowly, per path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from rvos_cli.cli import app
from rvos_cli.errors import MissingWeightsError
from rvos_cli.models.layout import CheckpointLayout
from rvos_cli.models.registry import MODELS
from rvos_cli.weights import convert, locate_checkpoint, locate_entry_dir

runner = CliRunner()
PAYLOAD = os.urandom(300_000)
SMALL = b'{"vocab": 1}\n'


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}  # path -> drop_once | wrong | slow | 500_once
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.requests.append((self.path, self.headers.get("Range")))
            mode = srv.modes.get(self.path, "")
            if mode.endswith("_once"):
                srv.modes[self.path] = ""
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if mode == "500_once":
            self.send_error(503)
            return
        if mode == "wrong":
            body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        chunk = body[start:]
        if mode == "drop_once":
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        step = 30_000 if mode == "slow" else len(chunk)
        for i in range(0, len(chunk), step):
            self.wfile.write(chunk[i : i + step])
            if mode == "slow":
                time.sleep(0.1)


@pytest.fixture(scope="module")
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """An isolated cache and registry; the server reset to two good files."""
    server.files = {"/w/model.bin": PAYLOAD, "/w/vocab.json": SMALL}
    server.modes = {}
    server.requests = []
    home = tmp_path / "home"
    registry = tmp_path / "registry.yaml"
    monkeypatch.setenv("RVOS_HOME", str(home))
    monkeypatch.setenv("RVOS_REGISTRY", str(registry))
    monkeypatch.setenv("RVOS_RETRY_BACKOFF", "0")
    monkeypatch.setenv("RVOS_RETRIES", "2")
    monkeypatch.setenv("RVOS_TIMEOUT", "5")
    monkeypatch.delenv("RVOS_OFFLINE", raising=False)
    return {"home": home, "registry": registry, "tmp": tmp_path}


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.bin"


def write_registry(path: Path, urls: list[str], sha: str | None = None, model: str = "none", extra_file: bool = True):
    files = [
        {
            "path": "model.bin",
            "role": "checkpoint" if model != "none" else "data",
            "size": len(PAYLOAD),
            "sha256": sha or hashlib.sha256(PAYLOAD).hexdigest(),
            "urls": urls,
        }
    ]
    if extra_file:
        files.append(
            {
                "path": "vocab.json",
                "role": "tokenizer",
                "size": None,
                "sha256": None,
                "urls": [urls[-1].rsplit("/", 1)[0] + "/vocab.json"],
            }
        )
    entry = {"model": model, "files": files}
    if model != "none":
        entry["task"] = "propagate"
    path.write_text(yaml.safe_dump({"toy": entry}))


def download(*args: str):
    return runner.invoke(app, ["download", *args])


def cache_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and ".locks" not in p.parts)


def test_download_installs_verified_files(server, env):
    write_registry(env["registry"], [server.url("/w/model.bin")])
    result = download("toy", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["weights"][0]["status"] == "installed"
    folder = locate_entry_dir("toy")
    assert (folder / "model.bin").read_bytes() == PAYLOAD
    assert (folder / "vocab.json").read_bytes() == SMALL
    assert cache_files(env["home"]) == ["toy/installed.json", "toy/model.bin", "toy/vocab.json"]

    again = download("toy", "--json")
    assert json.loads(again.stdout)["weights"][0]["status"] == "already installed"
    assert len(server.requests) == 2

    listing = runner.invoke(app, ["models", "--json"])
    rows = {row["name"]: row for row in json.loads(listing.stdout)["models"]}
    assert rows["toy"]["installed"] and rows["toy"]["installed_size"] == len(PAYLOAD) + len(SMALL)
    assert not rows["mttr-ytvos"]["installed"]
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "toy" in table.stdout and "mttr-ytvos" in table.stdout


def test_resume_after_dropped_connection(server, env):
    server.modes["/w/model.bin"] = "drop_once"
    write_registry(env["registry"], [server.url("/w/model.bin")])
    result = download("toy")
    assert result.exit_code == 0, result.output
    assert (env["home"] / "toy" / "model.bin").read_bytes() == PAYLOAD
    ranges = [r for path, r in server.requests if path == "/w/model.bin"]
    assert ranges == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_transient_503_is_retried(server, env):
    server.modes["/w/model.bin"] = "500_once"
    write_registry(env["registry"], [server.url("/w/model.bin")])
    assert download("toy").exit_code == 0
    assert [p for p, _ in server.requests].count("/w/model.bin") == 2


def test_sha256_mismatch_exits_4_and_leaves_nothing(server, env):
    server.modes["/w/model.bin"] = "wrong"
    url = server.url("/w/model.bin")
    write_registry(env["registry"], [url], extra_file=False)
    result = download("toy")
    assert result.exit_code == 4
    assert url in result.stderr and "sha256" in result.stderr
    assert cache_files(env["home"]) == []
    assert not (env["home"] / "toy").exists()


def test_next_mirror_after_404(server, env):
    write_registry(env["registry"], [server.url("/missing/model.bin"), server.url("/w/model.bin")])
    result = download("toy", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads((env["home"] / "toy" / "installed.json").read_text())
    assert record["sources"]["model.bin"] == server.url("/w/model.bin")
    assert [p for p, _ in server.requests][:2] == ["/missing/model.bin", "/w/model.bin"]


def test_connection_refused_on_every_mirror(env):
    urls = [refused_url(), refused_url()]
    write_registry(env["registry"], urls)
    result = download("toy")
    assert result.exit_code == 4
    assert "connection refused" in result.stderr and all(u in result.stderr for u in urls)
    assert "--from FILE" in result.stderr
    assert cache_files(env["home"]) == []


def test_two_processes_download_once(server, env):
    server.modes["/w/model.bin"] = "slow"
    write_registry(env["registry"], [server.url("/w/model.bin")])
    command = [sys.executable, "-m", "rvos_cli", "download", "toy", "--json"]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    statuses = sorted(json.loads(out)["weights"][0]["status"] for out, _ in outputs)
    assert statuses == ["already installed", "installed"]
    assert [p for p, _ in server.requests].count("/w/model.bin") == 1
    assert (env["home"] / "toy" / "model.bin").read_bytes() == PAYLOAD


def test_from_file_good_and_bad(env):
    write_registry(env["registry"], [refused_url()], extra_file=False)
    bad = env["tmp"] / "model.bin"
    bad.write_bytes(PAYLOAD[:-1] + b"x")
    result = download("toy", "--from", str(bad), "--offline")
    assert result.exit_code == 4 and "sha256" in result.stderr and str(bad) in result.stderr
    assert cache_files(env["home"]) == []

    good = env["tmp"] / "fetched-by-hand.bin"  # a lone file of another name is the entry's file
    good.write_bytes(PAYLOAD)
    result = download("toy", "--from", str(good), "--offline")
    assert result.exit_code == 0, result.output
    assert (locate_entry_dir("toy") / "model.bin").read_bytes() == PAYLOAD


def test_from_a_missing_file_is_bad_input(env):
    write_registry(env["registry"], [refused_url()], extra_file=False)
    result = download("toy", "--from", str(env["tmp"] / "nope.bin"), "--offline")
    assert (
        result.exit_code == 2
        and result.stderr.startswith("error: --from ")
        and "nope.bin does not exist" in result.stderr
    )
    assert cache_files(env["home"]) == []


def test_from_folder_matches_files_by_name(env):
    write_registry(env["registry"], [refused_url()])
    folder = env["tmp"] / "by-hand"
    folder.mkdir()
    (folder / "model.bin").write_bytes(PAYLOAD)
    result = download("toy", "--from", str(folder), "--offline")
    assert result.exit_code == 3 and "vocab.json" in result.stderr  # offline, and one file is still missing
    (folder / "vocab.json").write_bytes(SMALL)
    assert download("toy", "--from", str(folder), "--offline").exit_code == 0
    assert (locate_entry_dir("toy") / "vocab.json").read_bytes() == SMALL


def test_offline_without_and_with_cache(server, env, monkeypatch):
    write_registry(env["registry"], [server.url("/w/model.bin")])
    result = download("toy", "--offline")
    assert result.exit_code == 3
    assert "`rvos download toy`" in result.stderr
    assert server.requests == []
    with pytest.raises(MissingWeightsError, match="`rvos download toy`"):
        locate_entry_dir("toy")

    assert download("toy").exit_code == 0
    seen = len(server.requests)
    monkeypatch.setenv("RVOS_OFFLINE", "1")
    result = download("toy", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["weights"][0]["status"] == "already installed"
    assert len(server.requests) == seen


def test_modelscope_checksum_from_listing(server, env, monkeypatch):
    base = "/api/v1/models/damo/toy/repo"
    server.files[f"{base}?Revision=master&FilePath=sub/model.bin"] = PAYLOAD
    listing = {
        "Data": {
            "Files": [{"Path": "sub/model.bin", "Size": len(PAYLOAD), "Sha256": hashlib.sha256(PAYLOAD).hexdigest()}]
        }
    }
    server.files[f"{base}/files?Revision=master&Recursive=true"] = json.dumps(listing).encode()
    monkeypatch.setenv("RVOS_MODELSCOPE_ENDPOINT", server.url(""))
    env["registry"].write_text(
        yaml.safe_dump(
            {
                "toy": {
                    "model": "none",
                    "files": [
                        {
                            "path": "model.bin",
                            "sha256": None,
                            "size": None,
                            "urls": ["modelscope://damo/toy/sub/model.bin"],
                        }
                    ],
                }
            }
        )
    )
    assert download("toy").exit_code == 0
    assert (env["home"] / "toy" / "model.bin").read_bytes() == PAYLOAD

    listing["Data"]["Files"][0]["Sha256"] = "0" * 64
    server.files[f"{base}/files?Revision=master&Recursive=true"] = json.dumps(listing).encode()
    monkeypatch.setenv("RVOS_HOME", str(env["tmp"] / "other"))
    result = download("toy")
    assert result.exit_code == 4 and "modelscope://damo/toy/sub/model.bin" in result.stderr


def test_gdrive_without_gdown_says_what_to_install(env, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdown", None)  # import gdown -> ImportError
    env["registry"].write_text(
        yaml.safe_dump({"toy": {"model": "none", "files": [{"path": "model.bin", "urls": ["gdrive://1abc"]}]}})
    )
    result = download("toy")
    assert result.exit_code == 4 and "pip install 'rvos-cli[gdrive]'" in result.stderr


def fake_rdevos_layout(monkeypatch):
    expected = {"key_proj.weight": (4, 3, 3, 3), "key_proj.bias": (4,), "bn.num_batches_tracked": ()}
    layout = CheckpointLayout("rdevos", "tiny", expected, optional=("*.num_batches_tracked",))
    spec = dataclasses.replace(MODELS["rdevos"], layout=lambda variant: layout, layout_of=lambda state, origin: layout)
    monkeypatch.setattr(convert, "model_spec", lambda model: spec)
    return {"key_proj.weight": torch.randn(4, 3, 3, 3), "key_proj.bias": torch.randn(4)}


def test_download_converts_checkpoint_to_safetensors(server, env, monkeypatch):
    state = fake_rdevos_layout(monkeypatch)
    checkpoint = env["tmp"] / "ckpt.pth"
    torch.save({"model_state_dict": state, "epoch": 3, "optimizer_state_dict": {"lr": 0.1}}, checkpoint)
    data = checkpoint.read_bytes()
    server.files["/w/ckpt.pth"] = data
    env["registry"].write_text(
        yaml.safe_dump(
            {
                "toy": {
                    "model": "rdevos",
                    "task": "propagate",
                    "files": [
                        {
                            "path": "ckpt.pth",
                            "role": "checkpoint",
                            "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(),
                            "urls": [server.url("/w/ckpt.pth")],
                        }
                    ],
                }
            }
        )
    )
    result = download("toy", "--json")
    assert result.exit_code == 0, result.output
    path = locate_checkpoint("toy")
    assert path.name == "model.safetensors" and not (path.parent / "ckpt.pth").exists()
    from safetensors.torch import load_file

    loaded = load_file(str(path))
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)

    result = download("toy", "--from", str(checkpoint), "--keep-original")
    assert result.exit_code == 0, result.output
    assert (path.parent / "ckpt.pth").read_bytes() == data and path.is_file()


@pytest.mark.parametrize("name", ["model.safetensors", "weights.safetensors"])
def test_a_checkpoint_that_is_converted_already_is_kept_not_rewritten(name, server, env, monkeypatch):
    """An official file already named model.safetensors used to delete itself after its conversion (issue 20)."""
    from safetensors.torch import load_file, save_file

    state = fake_rdevos_layout(monkeypatch)
    source = env["tmp"] / name
    save_file(state, str(source))
    data = source.read_bytes()
    server.files[f"/w/{name}"] = data
    entry = {"path": name, "role": "checkpoint", "size": len(data), "urls": [server.url(f"/w/{name}")]}
    env["registry"].write_text(yaml.safe_dump({"toy": {"model": "rdevos", "task": "propagate", "files": [entry]}}))
    result = download("toy", "--json")
    assert result.exit_code == 0, result.output
    path = locate_checkpoint("toy")
    assert path.name == "model.safetensors" and path.read_bytes() == data  # the same bytes: not rewritten
    assert sorted(p.name for p in path.parent.iterdir()) == ["installed.json", "model.safetensors"]
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[k], state[k]) for k in state)


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_rejected_without_running(env, monkeypatch):
    state = fake_rdevos_layout(monkeypatch)
    marker = env["tmp"] / "pwned"
    evil = env["tmp"] / "evil.pth"
    torch.save({"model_state_dict": state, "payload": Evil(marker)}, evil)
    env["registry"].write_text(
        yaml.safe_dump(
            {
                "toy": {
                    "model": "rdevos",
                    "task": "propagate",
                    "files": [{"path": "ckpt.pth", "role": "checkpoint", "urls": [refused_url()]}],
                }
            }
        )
    )
    result = download("toy", "--from", str(evil))
    assert result.exit_code == 2 and "not unpickled" in result.stderr
    assert not marker.exists()
    assert cache_files(env["home"]) == []


def test_from_reinstall_keeps_other_installed_files(server, env):
    write_registry(env["registry"], [server.url("/w/model.bin")])
    assert download("toy").exit_code == 0
    fetched = env["tmp"] / "model.bin"
    fetched.write_bytes(PAYLOAD)
    seen = len(server.requests)
    result = download("toy", "--from", str(fetched), "--offline")
    assert result.exit_code == 0, result.output
    assert len(server.requests) == seen and (locate_entry_dir("toy") / "vocab.json").read_bytes() == SMALL


# --- issue 19: a full disk, an unwritable cache, a safetensors file for a .pth entry ------------


def test_from_on_a_full_disk_is_exit_5_and_leaves_no_part(env, monkeypatch):
    import errno
    import shutil

    write_registry(env["registry"], [refused_url()], extra_file=False)
    given = env["tmp"] / "model.bin"
    given.write_bytes(PAYLOAD)

    def full(source, target, **kwargs):
        Path(target).write_bytes(PAYLOAD[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    result = download("toy", "--from", str(given))
    assert result.exit_code == 5 and "No space left on device" in result.stderr, result.output
    assert [p for p in env["home"].rglob("*") if p.is_file() and ".locks" not in p.parts] == []


def test_a_full_disk_while_downloading_is_exit_5(server, env, monkeypatch):
    import errno

    from rvos_cli.weights import fetch

    write_registry(env["registry"], [server.url("/w/model.bin")], extra_file=False)

    def full(url, part, offset, update):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fetch, "_stream_once", full)
    result = download("toy")
    assert result.exit_code == 5 and "No space left on device" in result.stderr, result.output


def test_an_unwritable_cache_is_exit_5(env, monkeypatch):
    import errno

    write_registry(env["registry"], [refused_url()], extra_file=False)
    given = env["tmp"] / "model.bin"
    given.write_bytes(PAYLOAD)
    real = Path.mkdir

    def denied(self, *args, **kwargs):
        if env["home"] in (self, *self.parents):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    result = download("toy", "--from", str(given))
    assert result.exit_code == 5 and "Permission denied" in result.stderr and "Traceback" not in result.output


def test_from_a_safetensors_file_for_an_entry_whose_official_file_is_a_pth(env, monkeypatch):
    from safetensors.torch import load_file, save_file

    state = fake_rdevos_layout(monkeypatch)
    official = env["tmp"] / "official.pth"
    torch.save({"model_state_dict": state}, official)
    data = official.read_bytes()
    files = [
        {
            "path": "ckpt.pth",
            "role": "checkpoint",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "urls": [refused_url()],
        }
    ]
    env["registry"].write_text(yaml.safe_dump({"toy": {"model": "rdevos", "task": "propagate", "files": files}}))
    given = env["tmp"] / "converted elsewhere.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(given))
    result = download("toy", "--from", str(given), "--offline")
    assert result.exit_code == 0, result.output
    loaded = load_file(str(locate_checkpoint("toy")))
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    wrong = env["tmp"] / "wrong.safetensors"
    save_file({"other.weight": torch.zeros(2)}, str(wrong))
    result = download("toy", "--from", str(wrong), "--offline")
    assert result.exit_code == 2 and "wrong.safetensors" in result.stderr, result.output
