"""Reconnection back-off (issue 19): jittered exponential waits, and a HearthClient that keeps
trying while the server is away but never retries a refusal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import socketio

from server.backoff import Backoff
from server.client import HearthClient
from tests.conftest import RunningServer, free_port


def test_waits_are_jittered_within_a_window_that_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=30.0, attempts=12)
    assert [backoff.window(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    for attempt in (0, 3, 10, 2_000):
        waits = [backoff.delay(attempt) for _ in range(300)]
        window = backoff.window(attempt)
        assert all(0 <= w < window for w in waits)
        # spread over the whole window, at the cap too (socket.io-client's own back-off clamps
        # every wait to exactly its maximum there, so clients retry in lockstep)
        assert len(set(waits)) == len(waits)
        assert min(waits) < window * 0.2
        assert max(waits) > window * 0.8
    assert len(list(backoff.delays())) == 11


async def test_client_connects_once_a_server_that_was_down_comes_up(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "hearth", free_port())
    client = HearthClient(server.url, timeout=10)
    trying = asyncio.create_task(
        client.connect_with_backoff(Backoff(base=0.2, cap=1.0, attempts=60))
    )
    try:
        await asyncio.sleep(1.0)  # several attempts fail: nothing listens yet
        assert not trying.done()
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(trying, 30)
        assert client.sio.connected
        await client.call("groups.list")
    finally:
        trying.cancel()
        await client.disconnect()
        server.stop()


async def test_client_gives_up_after_its_attempts(tmp_path: Path) -> None:
    client = HearthClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises((OSError, socketio.exceptions.ConnectionError)):
        await client.connect_with_backoff(Backoff(base=0.05, cap=0.1, attempts=3))


async def test_a_refusal_is_not_retried(tmp_path: Path) -> None:
    server = RunningServer(
        tmp_path / "hearth", free_port(), "[limits]\nmax_connections_per_account = 1\n"
    )
    server.start()
    first = HearthClient(server.url)
    second = HearthClient(server.url, account=first.account)
    try:
        await first.connect()
        # a retry would wait a full minute: this one may not wait at all
        started = time.monotonic()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await second.connect_with_backoff(Backoff(base=60, cap=60, random=lambda: 1.0))
        assert time.monotonic() - started < 30
        assert second.sio.failed_namespaces
    finally:
        await first.disconnect()
        await second.disconnect()
        server.stop()
