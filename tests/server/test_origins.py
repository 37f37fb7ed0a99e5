"""`hearth serve --port` keeps the page connectable, and a refused origin is named in the log."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import Config, listening_on, load_config
from server.logs import NOT_PERSONAL, REDACTED, RedactAddresses
from server.origins import MAX_LOGGED_ORIGINS, OriginGate
from tests.conftest import REPO, RunningServer, free_port
from tests.server.raw_engineio import RawEngineIO


def _config(tmp_path: Path, origins: str, port: int = 8000) -> Config:
    (tmp_path / "secret.key").write_text("ab" * 32)
    (tmp_path / "secret.key").chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(f"[server]\nport = {port}\npublic_origins = {origins}\n")
    return load_config(path)


def test_port_moves_the_loopback_origins_that_named_the_old_port(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", '
        '"http://127.0.0.1:9000", "https://chat.example.org"]',
    )
    moved = listening_on(config, 8123)
    assert moved.server.port == 8123
    assert moved.server.public_origins == (
        "http://127.0.0.1:8123",
        "http://localhost:8123",
        "http://[::1]:8123",
        "http://127.0.0.1:9000",  # another port on purpose: not the one Hearth listened on
        "https://chat.example.org",  # a proxy's public address: a listening port does not move it
    )


def test_port_keeps_origins_without_a_port_in_their_canonical_form(tmp_path: Path) -> None:
    config = _config(tmp_path, '["http://localhost"]', port=80)
    assert listening_on(config, 8080).server.public_origins == ("http://localhost:8080",)
    back = listening_on(listening_on(config, 8080), 80)
    assert back.server.public_origins == ("http://localhost",)


def _record(message: str, *args: object, kept: tuple[str, ...] = ()) -> str:
    record = logging.LogRecord("hearth", logging.WARNING, __file__, 1, message, args, None)
    if kept:
        setattr(record, NOT_PERSONAL, kept)
    RedactAddresses().filter(record)
    return record.getMessage()


def test_an_origin_marked_not_personal_survives_redaction_other_addresses_do_not() -> None:
    text = _record(
        "origin %s refused; peer %s",
        "http://127.0.0.1:8001",
        "10.1.2.3:5555",
        kept=("http://127.0.0.1:8001",),
    )
    assert text == f"origin http://127.0.0.1:8001 refused; peer {REDACTED}"
    assert _record("peer %s", "10.1.2.3") == f"peer {REDACTED}"
    assert _record("peer %s", "10.1.2.3", kept=("",)) == f"peer {REDACTED}"


def test_refused_origins_are_logged_once_each_and_bounded(caplog: pytest.LogCaptureFixture) -> None:
    gate = OriginGate(["https://chat.example.org"])
    caplog.set_level(logging.WARNING, logger="hearth.origins")
    assert gate.allows("https://chat.example.org")
    assert gate.allows(None)  # no Origin header: not a browser, nothing to check
    for _ in range(3):
        assert not gate.allows("https://elsewhere.example")
    for n in range(MAX_LOGGED_ORIGINS * 2):
        assert not gate.allows(f"https://site{n}.example")
    assert not gate.allows("http://x\nFAKE ERROR line")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("https://elsewhere.example" in m for m in messages) == 1
    assert len(messages) == MAX_LOGGED_ORIGINS
    assert not any("FAKE" in m for m in messages)


def _handshake_status(port: int, origin: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n\r\n".encode()
        )
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.fixture
def moved_server(tmp_path: Path) -> Iterator[tuple[RunningServer, int]]:
    """A server whose config says one port, started with ``--port`` another."""
    server = RunningServer(tmp_path / "hearth", free_port())
    server.write_config()
    port = free_port()
    log = server.log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--config",
            str(server.config_path),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    log.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, server.log_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, server.log_text()
                time.sleep(0.05)
        yield server, port
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_with_another_port_accepts_the_page_served_there(
    moved_server: tuple[RunningServer, int],
) -> None:
    server, port = moved_server
    client = RawEngineIO(port, f"http://127.0.0.1:{port}")
    try:
        assert client.read_text().startswith("0")  # engine.io open: the handshake was accepted
    finally:
        client.close()
    # The origin of the port in the file is no longer the page's: refused, and named in the log.
    assert _handshake_status(port, server.url) == 403
    deadline = time.monotonic() + 5
    while f"origin {server.url}" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)
    assert "server.public_origins" in server.log_text()
