"""SIGTERM (systemd's stop) under load: the server stops cleanly within a bounded time.

Sockets are closed with WebSocket code 1012 ("service restart": clients reconnect), the events
being handled finish first, the database is checkpointed and closed (no WAL left beside it), the
process exits 0, and every acknowledged message is in the database."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from server.client import HearthClient, HearthRefused
from tests.conftest import free_port
from tests.faults.storage_support import FaultServer, chat_on, size_of, storage_config

SENDERS = 4
STOP_WITHIN_S = 10.0  # shutdown_timeout_seconds = 2: three bounded steps and the rest


async def keep_sending(client: HearthClient, group: bytes, acked: list[dict[str, Any]]) -> str:
    """Send until the server stops answering; returns how the sending ended."""
    while True:
        try:
            acked.append(await client.send(group, "while the server is asked to stop"))
        except HearthRefused as refused:
            if refused.code != "unavailable":
                return f"refused {refused.code}"
            await asyncio.sleep(0.05)
        except Exception as error:  # the socket closed under the call: the stop
            return type(error).__name__
        if not client.sio.connected:
            return "disconnected"


async def wait_for_acks(acked: list[dict[str, Any]], count: int) -> None:
    for _ in range(500):
        if len(acked) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {len(acked)} acknowledgements under load")


def wait_exit(process: subprocess.Popen[bytes], within: float) -> int | None:
    try:
        return process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return None


async def close_code(url: str, reached: asyncio.Event) -> int | None:
    """A plain WebSocket on the Engine.IO endpoint: the close code the server sends it."""
    ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url, headers={"Origin": url}, autoping=False) as ws,
    ):
        reached.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "2":
                await ws.send_str("3")
        return ws.close_code


async def test_sigterm_under_load_stops_cleanly(tmp_path: Path) -> None:
    server = FaultServer(
        tmp_path / "hearth",
        free_port(),
        storage_config(),
        server_keys="shutdown_timeout_seconds = 2\n",
    )
    server.add_facilitator()
    server.start()
    chat = await chat_on(server)
    senders = [chat.member, chat.fac]
    acked: list[dict[str, Any]] = []
    reached = asyncio.Event()
    watcher = asyncio.create_task(close_code(server.url, reached))
    await reached.wait()
    sending = [
        asyncio.create_task(keep_sending(senders[i % 2], chat.group, acked)) for i in range(SENDERS)
    ]
    await wait_for_acks(acked, 50)
    assert server.process is not None
    process = server.process
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    returncode = await asyncio.to_thread(wait_exit, process, STOP_WITHIN_S)
    took = time.monotonic() - started
    # A call cut by the closing socket would wait for its own timeout: stop waiting for it.
    done, running = await asyncio.wait(sending, timeout=1)
    for task in running:
        task.cancel()
    endings = [task.result() for task in done]
    code = await asyncio.wait_for(watcher, 5)
    await chat.close()
    server.stop()  # kills it if it is still running: nothing is left behind
    log = server.log_text()
    assert returncode == 0, (returncode, log[-3000:])
    assert took < STOP_WITHIN_S, took
    assert code == 1012, code
    assert "stopped cleanly" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert all(not ending.startswith("refused") for ending in endings), endings
    # Checkpointed and closed: nothing waits in a WAL, and the file is whole.
    assert size_of(Path(f"{server.database}-wal")) == 0
    with sqlite3.connect(server.database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT seq FROM messages")}
    conn.close()
    assert {ack["seq"] for ack in acked} <= stored
    assert len(acked) >= 50
