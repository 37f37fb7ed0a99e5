"""A database file that cannot be served: ``hearth serve`` refuses it in one clear line and
exits non-zero within seconds (so that systemd restarts it or an operator sees why), instead
of hanging on a database thread, starting silently on an empty database, or failing later."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, RunningServer, free_port

REFUSAL_WITHIN_S = 10.0


def serve_once(server: RunningServer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--config", str(server.config_path)],
        capture_output=True,
        text=True,
        timeout=30,  # a hang fails here (TimeoutExpired kills it) rather than blocking the suite
        check=False,
        cwd=REPO,
    )


def garbage_50_bytes(server: RunningServer) -> None:
    server.database.write_bytes(os.urandom(50))


def truncated_to_zero(server: RunningServer) -> None:
    """A database that was served, then emptied (a failed restore, a disk that filled)."""
    server.start()
    server.stop()
    server.database.write_bytes(b"")


def corrupted_pages(server: RunningServer) -> None:
    """A served database whose pages past the first were overwritten."""
    server.start()
    server.stop()
    with sqlite3.connect(server.database) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert (
        not Path(f"{server.database}-wal").exists()
        or not Path(f"{server.database}-wal").stat().st_size
    )
    with server.database.open("r+b") as file:
        for page in range(2, pages, 2):
            file.seek(page * page_size)
            file.write(os.urandom(page_size))


@pytest.mark.parametrize(
    "damage",
    [garbage_50_bytes, truncated_to_zero, corrupted_pages],
    ids=["garbage-50-bytes", "zero-bytes", "corrupted-pages"],
)
def test_serve_refuses_a_bad_database_in_one_line_and_exits(
    tmp_path: Path, damage: Callable[[RunningServer], None]
) -> None:
    server = RunningServer(tmp_path / "hearth", free_port())
    server.add_facilitator()
    damage(server)
    started = time.monotonic()
    result = serve_once(server)
    took = time.monotonic() - started
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert took < REFUSAL_WITHIN_S, took
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("hearth: error: "), lines
    assert str(server.database) in lines[0], lines
    assert "backup" in lines[0], lines  # it says what to do
    assert "Traceback" not in result.stderr


def test_a_new_empty_file_is_a_new_database(tmp_path: Path) -> None:
    """A 0-byte file nothing else was ever beside (e.g. created with the right owner and mode
    before the first start) is new: the server starts on it and says so."""
    server = RunningServer(tmp_path / "hearth", free_port())
    server.write_config()
    server.database.write_bytes(b"")
    server.start()
    try:
        assert "new database" in server.log_text()
    finally:
        server.stop()
    with sqlite3.connect(server.database) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] > 0
    conn.close()
