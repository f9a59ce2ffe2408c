"""Fetching one registry file through its mirrors: resumable, retried, verified before use.

Files on the Hugging Face hub (`hf://OWNER/NAME@REVISION/PATH`) come through `huggingface_hub`: its
resume and integrity checks, `HF_ENDPOINT` for mirrors, `HF_TOKEN` or the token of `hf auth login`
for gated repositories, and `HF_HUB_OFFLINE`. Other hosts are fetched here: bytes stream into
`<file>.part` beside the destination, so an interrupted download resumes with an HTTP Range request;
the part becomes the file only after its size and sha256 check.
Mirrors are tried in order: a missing file (404), a refused connection or a host that keeps
failing (5xx, timeouts, dropped connections, after retries with backoff) moves on to the next.

Environment knobs (mostly for tests and slow links): RVOS_RETRIES (default 3),
RVOS_RETRY_BACKOFF (seconds before the first retry, doubling; default 1), RVOS_TIMEOUT
(seconds without data before giving up on a connection; default 30),
RVOS_MODELSCOPE_ENDPOINT (default https://modelscope.cn).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rvos_cli import settings
from rvos_cli.atomic import WRITE_ERRNOS, atomic_file
from rvos_cli.errors import DownloadError, output_error
from rvos_cli.weights.display import byte_progress
from rvos_cli.weights.registry import WeightsFile

CHUNK = 1 << 20
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "rvos-cli/0.1 (python-urllib)"
GDRIVE_HINT = "Google Drive downloads need the gdown package: pip install 'rvos-cli[gdrive]'"


class MirrorError(Exception):
    """This mirror cannot serve the file; the next one is tried."""


class Transient(Exception):
    """A failure worth retrying on the same mirror (resuming where it stopped)."""


def fetch(name: str, file: WeightsFile, dest: Path, show_progress: bool = False) -> str:
    """Download registry `file` of entry `name` to `dest` from the first mirror that works; return that URL.

    DownloadError (exit 4) when every mirror fails or the bytes do not match size/sha256.
    """
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in file.urls:
        try:
            size, sha256 = _download(url, file, part, show_progress)
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:  # the part stays: the next `rvos download` resumes it
                raise output_error(part, exc) from None
            raise
        except MirrorError as exc:
            failures.append(f"{url}: {exc}")
            if file.sha256 is None:
                # Without a checksum, bytes from two different mirrors must never be spliced.
                part.unlink(missing_ok=True)
            continue
        verify(part, size, sha256, origin=url, label=file.path)
        os.replace(part, dest)
        return url
    raise DownloadError(
        f"could not download {file.path} of '{name}' from any mirror ({'; '.join(failures)}); check the network, "
        f"or fetch the file by hand and install it with `rvos download {name} --from FILE`"
    )


def install_local(source: Path, file: WeightsFile, dest: Path) -> str:
    """Install a file fetched by hand (`--from`), verified like a download."""
    if not source.is_file():
        raise DownloadError(f"--from {source}: no such file")
    verify(source, file.size, file.sha256, origin=str(source), label=file.path, delete=False)
    with atomic_file(dest) as part:  # a full disk is exit 5 and leaves nothing in the cache
        shutil.copyfile(source, part)
    return source.resolve().as_uri()


def verify(path: Path, size: int | None, sha256: str | None, origin: str, label: str, delete: bool = True) -> None:
    """Check size and sha256 (where known); on mismatch delete `path` (if `delete`) and raise DownloadError."""
    actual = path.stat().st_size
    problem = None
    if size is not None and actual != size:
        problem = f"has {actual} bytes instead of {size}"
    elif sha256 is not None:
        digest = sha256_file(path)
        if digest != sha256:
            problem = f"has sha256 {digest} instead of {sha256}"
    if problem:
        if delete:
            path.unlink(missing_ok=True)
        action = "deleted it; nothing was installed" if delete else "nothing was installed"
        raise DownloadError(f"{label} served by {origin} {problem} (bad bytes; {action}); retry, or use another mirror")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, file: WeightsFile, part: Path, show_progress: bool) -> tuple[int | None, str | None]:
    """Fill `part` from one mirror; return the (size, sha256) the bytes must have."""
    size, sha256 = file.size, file.sha256
    if url.startswith("gdrive://"):
        _gdrive(url[len("gdrive://") :], part, quiet=not show_progress)
        return size, sha256
    if url.startswith("hf://"):
        _hub(url[len("hf://") :], part, show_progress)
        return size, sha256
    if url.startswith("modelscope://"):
        url, listed = _modelscope(url[len("modelscope://") :], need_listing=sha256 is None)
        size, sha256 = size or listed.get("Size"), sha256 or listed.get("Sha256")
    with byte_progress(file.path, show_progress) as update:
        _stream(url, part, size, update)
    return size, sha256


def _stream(url: str, part: Path, size: int | None, update) -> None:
    """HTTP(S)/file download into `part`, resuming and retrying transient failures."""
    config = settings.current()
    retries, backoff = config.retries, config.retry_backoff
    failed = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset >= size > 0:
            return  # complete from an earlier run; verify() decides whether it is right
        try:
            _stream_once(url, part, offset, update)
            return
        except Transient as exc:
            if part.exists() and part.stat().st_size > offset:
                failed = 0  # progress was made: a flaky link may take many resumes
            else:
                failed += 1
            if failed > retries:
                raise MirrorError(f"{exc} (gave up after {retries} retries)") from None
            time.sleep(backoff * 2 ** max(failed - 1, 0))


def _stream_once(url: str, part: Path, offset: int, update) -> None:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    timeout = settings.current().timeout
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            if offset and getattr(response, "status", None) != 206:
                offset = 0  # the server ignored Range: start again
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else None
            done = offset
            with open(part, "ab" if offset else "wb") as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    update(done, total)
            if total is not None and done < total:
                raise Transient(f"connection closed after {done} of {total} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            part.unlink(missing_ok=True)  # stale or oversized part: restart from zero
            raise Transient("HTTP 416 for a resumed download") from None
        if exc.code in RETRY_STATUS:
            raise Transient(f"HTTP {exc.code}") from None
        raise MirrorError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise Transient("timed out") from None
        if isinstance(exc.reason, ConnectionRefusedError):
            raise MirrorError("connection refused") from None
        raise MirrorError(str(exc.reason)) from None
    except TimeoutError:
        raise Transient("timed out") from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise Transient(f"connection dropped ({type(exc).__name__})") from None


def _modelscope(ref: str, need_listing: bool) -> tuple[str, dict[str, Any]]:
    """The file URL of `namespace/name/path` on ModelScope and, if asked, its listing row (Size, Sha256)."""
    parts = ref.split("/", 2)
    if len(parts) != 3:
        raise MirrorError("modelscope:// URLs are modelscope://namespace/name/path/in/repo")
    namespace, name, path = parts
    endpoint = settings.current().modelscope_endpoint
    base = f"{endpoint}/api/v1/models/{namespace}/{name}/repo"
    url = f"{base}?Revision=master&FilePath={quote(path)}"
    if not need_listing:
        return url, {}
    listing = _get_json(f"{base}/files?Revision=master&Recursive=true")
    for row in (listing.get("Data") or {}).get("Files") or []:
        if row.get("Path") == path and row.get("Sha256"):
            return url, {"Sha256": str(row["Sha256"]).lower(), "Size": row.get("Size")}
    raise MirrorError(f"the ModelScope listing of {namespace}/{name} has no checksum for {path}")


def _get_json(url: str) -> dict[str, Any]:
    timeout = settings.current().timeout
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout
        ) as r:
            return json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise MirrorError(f"listing {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise MirrorError(f"listing {url}: {getattr(exc, 'reason', exc)}") from None
    except ValueError:
        raise MirrorError(f"listing {url} is not JSON") from None


def parse_hub_url(ref: str) -> tuple[str, str, str]:
    """'OWNER/NAME@REVISION/PATH' -> (repository, revision, path in it)."""
    repo, at, rest = ref.partition("@")
    revision, _, path = rest.partition("/")
    if not at or repo.count("/") != 1 or not revision or not path:
        raise MirrorError(f"hf://{ref} is not hf://OWNER/NAME@REVISION/PATH")
    return repo, revision, path


def _hub(ref: str, part: Path, show_progress: bool) -> None:
    """One file of a Hugging Face repository, through huggingface_hub, into `part`."""
    from huggingface_hub import errors as hub
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars, logging

    repo, revision, path = parse_hub_url(ref)
    (enable_progress_bars if show_progress else disable_progress_bars)()
    logging.set_verbosity_error()  # its retry warnings would break the one-line error
    staging = part.with_name(part.name[: -len(".part")] + ".hub")  # the hub's resumable download lives here
    try:
        # HF_ENDPOINT as the environment has it now (the hub reads it once, when first imported).
        fetched = hf_hub_download(
            repo, path, revision=revision, local_dir=staging, endpoint=os.environ.get("HF_ENDPOINT") or None
        )
    except hub.GatedRepoError:
        raise DownloadError(
            f"{repo} is gated: accept its licence at https://huggingface.co/{repo} with your Hugging Face "
            "account, then log in with `hf auth login` (or set HF_TOKEN to an access token) and download again"
        ) from None
    except hub.RepositoryNotFoundError:
        raise MirrorError(
            f"{repo} was not found or needs a login: if it is gated or private, run `hf auth login` "
            "(or set HF_TOKEN) with an account that has access"
        ) from None
    except hub.LocalEntryNotFoundError:  # an EntryNotFoundError too: first
        raise MirrorError("the hub cannot be reached (offline, or HF_HUB_OFFLINE=1)") from None
    except (hub.RevisionNotFoundError, hub.EntryNotFoundError) as exc:
        raise MirrorError(f"{repo}@{revision} has no {path} ({type(exc).__name__})") from None
    except hub.HfHubHTTPError as exc:
        raise MirrorError(f"the hub answered {str(exc).splitlines()[0][:160]}") from None
    except OSError as exc:
        raise MirrorError(f"the hub download failed ({exc})") from None
    os.replace(fetched, part)
    shutil.rmtree(staging, ignore_errors=True)


def _gdrive(ref: str, part: Path, quiet: bool) -> None:
    """`gdrive://FILE_ID` or `gdrive://folders/FOLDER_ID/path/in/folder`, through gdown."""
    try:
        import gdown
    except ImportError:
        raise MirrorError(GDRIVE_HINT) from None
    # gdown treats an existing output file as complete, so it gets its own name, never our part.
    staging = part.with_name(part.name[: -len(".part")] + ".gdrive")
    try:
        file_id = _gdrive_folder_file(gdown, ref) if ref.startswith("folders/") else ref
        output = gdown.download(id=file_id, output=str(staging), quiet=quiet, resume=True)
    except Exception as exc:  # gdown raises its own types, and requests' ones
        raise MirrorError(
            f"Google Drive: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from None
    if not output or not staging.is_file():
        raise MirrorError("Google Drive refused the download (quota exceeded or not shared)")
    os.replace(staging, part)


def _gdrive_folder_file(gdown, ref: str) -> str:
    folder_id, _, inner = ref[len("folders/") :].partition("/")
    for item in gdown.download_folder(id=folder_id, skip_download=True, quiet=True) or []:
        if item.path == inner or item.path.endswith("/" + inner):
            return item.id
    raise MirrorError(f"Google Drive folder {folder_id} has no file {inner}")
