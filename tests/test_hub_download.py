"""Weights on the Hugging Face hub come through huggingface_hub: a loopback server speaking the hub's
`resolve` protocol (HF_ENDPOINT), a gated repository, and an offline hub."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from rvos_cli.cli import app

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {"config.json": b'{"offset": 3}', "model.safetensors": b"x" * 5000}


class Hub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.gated: set[str] = set()
        self.requests: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HubHandler(BaseHTTPRequestHandler):
    """GET/HEAD /{owner}/{name}/resolve/{revision}/{path}, as the hub answers them."""

    server: Hub

    def log_message(self, *args):
        pass

    def _file(self):
        self.server.requests.append(f"{self.command} {self.path}")
        parts = self.path.split("?")[0].strip("/").split("/")
        repo, revision, path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo in self.server.gated:
            self.send_response(403)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", "Access to model is restricted")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        body = FILES.get(path) if revision in ("main", COMMIT) else None
        if body is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def do_HEAD(self):
        self._file()

    def do_GET(self):
        body = self._file()
        if body is not None:
            self.wfile.write(body)


@pytest.fixture(scope="module")
def hub():
    server = Hub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def registry(tmp_path, hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub.gated = set()
    path = tmp_path / "hub.yaml"
    digest = hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    path.write_text(
        "toy-hub:\n  model: none\n  format: hf\n  repo: someone/toy\n"
        f"  revision: {COMMIT}\n  files:\n    - {{path: config.json, role: config}}\n"
        f"    - {{path: model.safetensors, role: weights, size: 5000, sha256: {digest}}}\n"
    )
    return path


def download(*args):
    return CliRunner().invoke(app, ["download", *map(str, args)])


def test_files_come_from_the_hub_at_the_pinned_revision(registry, hub, tmp_path):
    result = download("toy-hub", "--registry", registry, "--cache-dir", tmp_path / "cache", "--json")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "cache" / "toy-hub"
    assert (folder / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert json.loads((folder / "config.json").read_text()) == {"offset": 3}
    files = [request for request in hub.requests if "/resolve/" in request]
    assert len(files) >= 2 and all(f"/someone/toy/resolve/{COMMIT}/" in request for request in files)
    assert not [p for p in folder.rglob("*") if p.name.endswith((".part", ".hub"))]


def test_a_gated_repository_says_how_to_get_access(registry, hub, tmp_path):
    hub.gated = {"someone/toy"}
    result = download("toy-hub", "--registry", registry, "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 4
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: someone/toy is gated")
    assert "https://huggingface.co/someone/toy" in lines[0] and "hf auth login" in lines[0] and "HF_TOKEN" in lines[0]
    assert not (tmp_path / "cache" / "toy-hub" / "model.safetensors").exists()


def test_an_offline_hub_is_one_download_error(registry, tmp_path):
    """HF_HUB_OFFLINE is the hub's own switch (read when it is imported: a fresh process)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = ["download", "toy-hub", "--registry", str(registry), "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run([sys.executable, "-m", "rvos_cli.cli", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 4 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: could not download config.json of 'toy-hub'") and "offline" in result.stderr
