"""Models by URL (issue 14.1): hostile servers on 127.0.0.1 cannot hold the runner, bypass the size
limit or tell hosts apart; every download failure is E_MODEL_URL within the deadline.

The servers are plain sockets on 127.0.0.1, let through only by the test-only switch
EASEL_ALLOW_INSECURE_MODEL_URL_FOR_TESTS=127.0.0.1; the production rules (https, allowlisted
hosts) are tested without it.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from evaluator import model_fetch
from evaluator.cli import main as easel
from evaluator.config import Limits
from evaluator.errors import EaselError

PAYLOAD = b"PK\x03\x04 not really a model, but bytes with a known sha256" * 100
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
DEADLINE_S = 3.0
MARGIN_S = 60.0  # the bound: the timeout plus a minute


class Server:
    """A one-behaviour TCP server on 127.0.0.1 that serves each connection in a thread."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, name: str = "m.keras") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.recv(4096)
            self.behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def stall(conn, stop):
    stop.wait(600)  # accepts, reads the request, never answers


def drip(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
    while not stop.wait(0.05):
        conn.sendall(b"x")  # a byte at a time, forever


def drip_headers(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not stop.wait(0.05):
        conn.sendall(b"y")


def oversize_declared(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (50 << 20))
    conn.sendall(b"z" * (1 << 20))


def oversize_undeclared(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    chunk = b"z" * (1 << 16)
    for _ in range(2000):  # 125 MiB if nobody stops reading
        if stop.is_set():
            return
        conn.sendall(chunk)


def good(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAYLOAD) + PAYLOAD)


def not_found(conn, stop):
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def loopback(monkeypatch):
    monkeypatch.setenv(model_fetch.INSECURE_TEST_ENV, "127.0.0.1")
    servers = []

    def start(behaviour):
        server = Server(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def fetch(url, cache, digest=DIGEST, max_bytes=1 << 20):
    return model_fetch.fetch_model(url, digest, "keras", (), cache, max_bytes=max_bytes,
                                   connect_timeout=1.0, read_timeout=1.0, deadline_s=DEADLINE_S)


@pytest.mark.parametrize("behaviour", [stall, drip, drip_headers, oversize_declared, oversize_undeclared,
                                       not_found], ids=lambda b: b.__name__)
def test_hostile_server_ends_in_model_url_within_the_deadline(behaviour, loopback, tmp_path):
    server = loopback(behaviour)
    started = time.monotonic()
    with pytest.raises(EaselError) as info:
        fetch(server.url(), tmp_path)
    elapsed = time.monotonic() - started
    assert info.value.code == "E_MODEL_URL"
    assert elapsed < DEADLINE_S + MARGIN_S
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_failures_read_the_same_whatever_happened(loopback, tmp_path):
    """Unreachable, 404 and a wrong sha256 give one code, one message, one detail: no host oracle."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    errors = []
    for url, digest in [(f"http://127.0.0.1:{dead_port}/m.keras", DIGEST),
                        (loopback(not_found).url(), DIGEST),
                        (loopback(good).url(), "0" * 64)]:
        with pytest.raises(EaselError) as info:
            fetch(url, tmp_path, digest)
        errors.append(info.value.as_dict() | {"text": info.value.message})
    assert errors[0] == errors[1] == errors[2]
    assert errors[0]["code"] == "E_MODEL_URL"


def test_good_download_is_verified_and_keeps_its_suffix(loopback, tmp_path):
    server = loopback(good)
    path = fetch(server.url(), tmp_path)
    assert path.name == f"{DIGEST}.keras" and path.read_bytes() == PAYLOAD
    assert fetch(server.url(), tmp_path) == path and server.connections == 1  # served from the cache


def test_download_counts_against_the_size_limit(loopback, tmp_path):
    server = loopback(good)
    with pytest.raises(EaselError) as info:
        fetch(server.url(), tmp_path, max_bytes=len(PAYLOAD) - 1)
    assert info.value.code == "E_MODEL_URL"


@pytest.mark.parametrize("url, fmt, hosts, code", [
    ("https://models.example.org/m.keras", "keras", (), "E_MODEL_URL_OFF"),
    ("https://evil.example.net/m.keras", "keras", ("models.example.org",), "E_MODEL_URL_HOST"),
    ("http://models.example.org/m.keras", "keras", ("models.example.org",), "E_MODEL_URL_HOST"),
    ("ftp://models.example.org/m.keras", "keras", ("models.example.org",), "E_MODEL_URL_HOST"),
    ("https://user:pw@models.example.org/m.keras", "keras", ("models.example.org",), "E_MODEL_URL_HOST"),
    ("https://models.example.org:8443/m.keras", "keras", ("models.example.org",), "E_MODEL_URL_HOST"),
    ("https://models.example.org/m.bin", "keras", ("models.example.org",), "E_MODEL_URL_SUFFIX"),
    ("https://models.example.org/m.zip", "saved_model", ("models.example.org",), "E_MODEL_URL_SUFFIX"),
])
def test_production_url_rules(url, fmt, hosts, code, tmp_path, monkeypatch):
    monkeypatch.delenv(model_fetch.INSECURE_TEST_ENV, raising=False)
    with pytest.raises(EaselError) as info:
        model_fetch.fetch_model(url, DIGEST, fmt, hosts, tmp_path, max_bytes=1 << 20)
    assert info.value.code == code


def test_loopback_switch_is_off_by_default(monkeypatch):
    monkeypatch.delenv(model_fetch.INSECURE_TEST_ENV, raising=False)
    assert not model_fetch.allowed_url("http://127.0.0.1:8000/m.keras", ("127.0.0.1",))
    monkeypatch.setenv(model_fetch.INSECURE_TEST_ENV, "1")
    assert not model_fetch.allowed_url("http://127.0.0.1:8000/m.keras", ())


def _url_submission(root: Path, url: str, timeout_s: float) -> tuple[Path, Path]:
    repo = Path(__file__).resolve().parents[2]
    competition = yaml.safe_load((repo / "competition.yaml").read_text())
    competition["limits"]["timeout_s"] = timeout_s
    comp_file = root / "competition.yaml"
    comp_file.write_text(yaml.safe_dump(competition))
    sub = root / "submissions" / "acme" / "inkgan"
    sub.mkdir(parents=True)
    (sub / "submission.yaml").write_text(yaml.safe_dump({
        "team": "acme", "name": "inkgan", "track": "photo2ink", "authors": ["Ada"],
        "description": "A generator.", "license": "MIT",
        "model": {"format": "keras", "url": url, "sha256": DIGEST}}))
    return sub, comp_file


def test_validate_on_a_stalling_server_ends_with_its_code(loopback, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EASEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(model_fetch.PREFETCHED_ENV, raising=False)
    server = loopback(stall)
    sub, comp = _url_submission(tmp_path, server.url(), timeout_s=3)
    started = time.monotonic()
    code = easel(["validate", str(sub), "--competition", str(comp), "--no-probe"])
    assert time.monotonic() - started < 3 + MARGIN_S
    assert code == 2 and "E_MODEL_URL" in capsys.readouterr().out


def test_fetch_model_then_offline_validate_reads_the_prefetched_file(loopback, tmp_path, capsys, monkeypatch):
    """The gate job's `fetch-model` fills a folder; `validate --model-cache` uses it without network."""
    monkeypatch.delenv(model_fetch.PREFETCHED_ENV, raising=False)
    server = loopback(good)
    sub, comp = _url_submission(tmp_path, server.url(), timeout_s=30)
    cache = tmp_path / "prefetched"
    assert easel(["fetch-model", str(sub), "--out", str(cache), "--competition", str(comp)]) == 0
    assert (cache / f"{DIGEST}.keras").read_bytes() == PAYLOAD
    server.close()
    capsys.readouterr()
    # The bytes are not a real .keras archive: the static check, not the network, refuses them.
    assert easel(["validate", str(sub), "--competition", str(comp), "--no-probe",
                  "--model-cache", str(cache)]) == 2
    out = capsys.readouterr().out
    assert "E_KERAS_ARCHIVE" in out and "E_MODEL_URL" not in out
    (cache / f"{DIGEST}.keras").chmod(0o644)
    (cache / f"{DIGEST}.keras").write_bytes(b"tampered")
    assert easel(["validate", str(sub), "--competition", str(comp), "--no-probe",
                  "--model-cache", str(cache)]) == 2
    assert "E_MODEL_URL" in capsys.readouterr().out


def test_competition_allowlist_is_parsed():
    assert Limits().model_url_hosts == ()


def test_evaluate_on_a_stalling_server_writes_an_invalid_result(loopback, tmp_path, monkeypatch):
    """The issue's case: `easel evaluate` on a URL that accepts and never answers."""
    import json

    monkeypatch.setenv("EASEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(model_fetch.PREFETCHED_ENV, raising=False)
    server = loopback(stall)
    sub, comp = _url_submission(tmp_path, server.url(), timeout_s=3)
    started = time.monotonic()
    code = easel(["evaluate", str(sub), "--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "r.json"),
                  "--competition", str(comp)])
    assert time.monotonic() - started < 3 + MARGIN_S
    result = json.loads((tmp_path / "r.json").read_text())
    assert (code, result["status"], [e["code"] for e in result["errors"]]) == (2, "invalid", ["E_MODEL_URL"])


def test_redirects_stay_on_allowed_hosts(loopback, tmp_path):
    target = loopback(good)

    def to_loopback(conn, stop):
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % target.url().encode())

    def to_elsewhere(conn, stop):
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: https://evil.example.net/m.keras\r\nContent-Length: 0\r\n\r\n")

    assert fetch(loopback(to_loopback).url(), tmp_path).read_bytes() == PAYLOAD
    (tmp_path / f"{DIGEST}.keras").unlink()
    with pytest.raises(EaselError) as info:
        fetch(loopback(to_elsewhere).url(), tmp_path)
    assert info.value.code == "E_MODEL_URL"
