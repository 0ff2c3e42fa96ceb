"""Models by URL: fetched where they cannot hurt, verified before use.

Rules (issue 14.1): https only, from a host on the organizer's allowlist
(``limits.model_url_hosts`` in competition.yaml; empty means URL models are
off); redirects are followed only to allowlisted https hosts; connect and read
timeouts plus an overall deadline enforced by a watchdog that shuts the socket;
the body is streamed to a temp file next to the cache entry, counted against
the size limit and cut off there; its sha256 is checked before the file is
renamed into place with its format's suffix (``<sha256>.keras`` / ``.onnx``).

Every failure after the static URL checks is the same participant-facing
error (E_MODEL_URL) whatever happened, so a submission cannot learn which
hosts the runner reaches; the reason goes only to the operator's log.

The hosted gate job runs ``easel fetch-model`` (evaluator/submission_commands.py)
and hands the cache folder to the GPU job, whose ``validate``/``evaluate`` read
it with ``--model-cache`` / ``EASEL_MODEL_CACHE`` and never touch the network.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .errors import EaselError
from .fsutil import sha256_file
from .models import URL_SUFFIXES  # {format: suffix} of the formats a URL may carry (single files only)
from .settings import MODEL_CACHE_ENV
from .vocab import HEX64_RE

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
DEADLINE_S = 600.0       # whole download, headers included
MAX_REDIRECTS = 3
CHUNK = 1 << 16
# Test-only: this variable set to exactly "127.0.0.1" lets http://127.0.0.1:PORT through the URL
# rules so tests can serve files locally. Nothing else widens the production rules.
INSECURE_TEST_ENV = "EASEL_ALLOW_INSECURE_MODEL_URL_FOR_TESTS"
PREFETCHED_ENV = MODEL_CACHE_ENV  # the CLI reads it once (evaluator.settings); nothing here does


def _test_loopback(parts) -> bool:
    return (os.environ.get(INSECURE_TEST_ENV) == "127.0.0.1" and parts.scheme == "http"
            and parts.hostname == "127.0.0.1")


def url_shape_ok(url: object) -> bool:
    """A model.url's shape as submission.yaml allows it: https (or the test loopback), no blanks, <= 500 chars."""
    if not isinstance(url, str) or len(url) > 500 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.hostname) and (parts.scheme == "https" or _test_loopback(parts))


def allowed_url(url: str, hosts: tuple[str, ...]) -> bool:
    """True for an https URL (no credentials) whose host is on ``hosts`` (or the test loopback)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.username or parts.password:
        return False
    if _test_loopback(parts):
        return True
    return parts.scheme == "https" and port in (None, 443) and parts.hostname in hosts


def check_model_url(url: str, fmt: str, hosts: tuple[str, ...]) -> None:
    """Static checks of a submission's model.url, before any network use.

    Raises E_MODEL_URL_OFF (no hosts allowed), E_MODEL_URL_SUFFIX (a
    saved_model, or a path not ending in the format's suffix) or
    E_MODEL_URL_HOST (not https or not an allowed host).
    """
    if not hosts and not _test_loopback(urlsplit(url)):
        raise EaselError("E_MODEL_URL_OFF", "limits.model_url_hosts is empty: models by URL are off",
                         detail="model.url")
    suffix = URL_SUFFIXES.get(fmt)
    if suffix is None:
        raise EaselError("E_MODEL_URL_SUFFIX", f"a {fmt} model cannot be fetched by URL; commit its folder "
                         "and use model.path", detail="model.url")
    if not urlsplit(url).path.endswith(suffix):
        raise EaselError("E_MODEL_URL_SUFFIX", f"the URL path must end with {suffix} for format {fmt}",
                         detail="model.url")
    if not allowed_url(url, hosts):
        allowed = ", ".join(hosts)
        raise EaselError("E_MODEL_URL_HOST", f"model.url must be https on one of: {allowed}", detail="model.url")


def cache_path(cache_dir: Path, sha256: str, fmt: str) -> Path:
    """Where a verified model lives in a cache folder: ``<sha256><suffix>``."""
    if not HEX64_RE.match(sha256) or fmt not in URL_SUFFIXES:
        raise EaselError("E_MODEL_URL", "no cache entry for this model", detail="model.url")
    return Path(cache_dir) / f"{sha256}{URL_SUFFIXES[fmt]}"


def cached_model(cache_dir: Path, sha256: str, fmt: str) -> Path | None:
    """The cached file if present, a regular file and matching ``sha256``; None otherwise."""
    path = cache_path(cache_dir, sha256, fmt)
    if path.is_symlink() or not path.is_file():
        return None
    if sha256_file(path) != sha256:
        log.warning("model cache entry %s does not match its name; ignored", path.name)
        return None
    return path


def _failed(reason: str) -> EaselError:
    """The one participant-facing download error; the reason stays in the operator log."""
    log.warning("model download failed: %s", reason)
    return EaselError("E_MODEL_URL", "the model could not be fetched from model.url or does not match "
                      "model.sha256", detail="model.url")


class _Watchdog:
    """Shuts a connection's socket at an absolute deadline, whatever call is blocked on it."""

    def __init__(self, deadline: float):
        self.fired = False
        self._deadline = deadline
        self._connection: http.client.HTTPConnection | None = None
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def watch(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection
        if time.monotonic() >= self._deadline:
            self._fire()

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self._connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _open(url: str, connect_timeout: float):
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=connect_timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=connect_timeout)
    return connection, target


def _stream(url: str, handle, digest, max_bytes: int, hosts: tuple[str, ...], connect_timeout: float,
            read_timeout: float, deadline: float) -> None:
    """GET ``url`` (following allowed redirects) into ``handle``; raises E_MODEL_URL on any failure."""
    with _Watchdog(deadline) as watchdog:
        for _ in range(MAX_REDIRECTS + 1):
            connection, target = _open(url, connect_timeout)
            watchdog.watch(connection)
            try:
                connection.connect()
                watchdog.watch(connection)
                connection.sock.settimeout(read_timeout)
                connection.request("GET", target, headers={"User-Agent": "easel-model-fetch",
                                                           "Accept-Encoding": "identity"})
                response = connection.getresponse()
                if response.status in (301, 302, 303, 307, 308):
                    url = urljoin(url, response.getheader("Location") or "")
                    if not allowed_url(url, hosts):
                        raise _failed(f"redirect to a URL outside the allowlist ({response.status})")
                    continue
                if response.status != 200:
                    raise _failed(f"HTTP status {response.status}")
                declared = response.getheader("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _failed(f"Content-Length {declared} over the limit of {max_bytes} bytes")
                received = 0
                while True:
                    if time.monotonic() >= deadline:
                        raise _failed("overall deadline passed")
                    chunk = response.read1(CHUNK)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > max_bytes:
                        raise _failed(f"more than the limit of {max_bytes} bytes")
                    handle.write(chunk)
                    digest.update(chunk)
                if watchdog.fired:
                    raise _failed("overall deadline passed")
                return
            except EaselError:
                raise
            except (OSError, http.client.HTTPException, ValueError) as exc:
                reason = "overall deadline passed" if watchdog.fired else f"{type(exc).__name__}: {exc}"
                raise _failed(reason) from None
            finally:
                connection.close()
        raise _failed("too many redirects")


def fetch_model(url: str, sha256: str, fmt: str, hosts: tuple[str, ...], cache_dir: Path, max_bytes: int,
                connect_timeout: float = CONNECT_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S,
                deadline_s: float = DEADLINE_S) -> Path:
    """Download a model by URL into ``cache_dir``, verified by its sha256; returns its path.

    ``max_bytes``: bytes the download may take (the size limit less the
    submission folder). Timeouts in seconds. Raises the static URL codes of
    :func:`check_model_url`, or E_MODEL_URL for every download failure
    (unreachable, slow, oversize, bad status, wrong sha256).
    """
    check_model_url(url, fmt, hosts)
    found = cached_model(cache_dir, sha256, fmt)
    if found is not None:
        return found
    target = cache_path(cache_dir, sha256, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as handle:
            _stream(url, handle, digest, max_bytes, hosts, connect_timeout, read_timeout,
                    time.monotonic() + deadline_s)
            handle.flush()
            os.fsync(handle.fileno())
        if digest.hexdigest() != sha256:
            raise _failed("sha256 of the downloaded bytes differs from model.sha256")
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def fetch_for_limits(url: str, sha256: str, fmt: str, limits, cache_dir: Path, folder_bytes: int) -> Path:
    """:func:`fetch_model` under a competition's limits: the download and the submission folder
    together stay within ``limits.max_model_mb``; the deadline is ``limits.timeout_s`` (at most DEADLINE_S)."""
    budget = int(limits.max_model_mb * 1024 * 1024) - folder_bytes
    deadline = min(DEADLINE_S, float(limits.timeout_s))
    return fetch_model(url, sha256, fmt, limits.model_url_hosts, Path(cache_dir), max_bytes=max(budget, 0),
                       connect_timeout=min(CONNECT_TIMEOUT_S, deadline), read_timeout=min(READ_TIMEOUT_S, deadline),
                       deadline_s=deadline)


def prefetched_model(cache_dir: Path, sha256: str, fmt: str) -> Path:
    """A model a trusted job fetched earlier (no network here); E_MODEL_URL when absent or altered."""
    found = cached_model(Path(cache_dir), sha256, fmt) if fmt in URL_SUFFIXES else None
    if found is None:
        raise _failed(f"not in the pre-fetched model cache {cache_dir}")
    return found
