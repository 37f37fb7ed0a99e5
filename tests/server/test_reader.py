"""server/realtime/reader.py: a websocket's packets are read in the connection's own task, a
quiet client is closed after the ping timeout, and a broken frame closes only its connection.

A real uvicorn (the lean websockets-sansio protocol) and raw websocket clients, in this process
so that a test can count the tasks the server creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from server.realtime.fanout import DirectSocketIOServer
from tests.server.inprocess import connected, counting_tasks, serving

PING = 0.2  # engine.io's ping interval and ping timeout here: a client quiet for 0.4 s is gone


@pytest.fixture
async def served() -> AsyncIterator[tuple[DirectSocketIOServer, int]]:
    sio = DirectSocketIOServer(
        async_mode="asgi",
        transports=["websocket"],
        ping_interval=PING,
        ping_timeout=PING,
        max_http_buffer_size=1_000,
    )

    @sio.on("echo")  # type: ignore[untyped-decorator]
    async def echo(sid: str, data: Any) -> Any:
        return data

    async with serving(sio) as (_, port):
        yield sio, port


async def acks(ws: ClientConnection, count: int) -> list[str]:
    """The next ``count`` acks, answering engine.io's pings on the way."""
    seen: list[str] = []
    while len(seen) < count:
        async with asyncio.timeout(5):  # not wait_for: a task each on Python 3.11, counted below
            frame = str(await ws.recv())
        if frame == "2":
            await ws.send("3")
        else:
            seen.append(frame)
    return seen


async def closed_by_server(ws: ClientConnection, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            while True:
                if await ws.recv() == "2":
                    continue  # a ping left unanswered
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


async def test_packets_are_read_without_a_task_each(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    _, port = served
    ws = await connected(port)
    with counting_tasks() as created:
        for n in range(10):
            await ws.send(f'42{n}["echo",{n}]')
        assert await acks(ws, 10) == [f"43{n}[{n}]" for n in range(10)]
    # python-socketio's task per event, nothing per read (engine.io's reader: one more each)
    assert created() == 10
    await ws.close()


async def answer_pings(ws: ClientConnection) -> None:
    while True:
        if await ws.recv() == "2":
            await ws.send("3")


async def test_a_quiet_client_is_closed_and_one_that_answers_pings_is_not(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    sio, port = served
    answering, quiet = await connected(port), await connected(port)
    keeper = asyncio.create_task(answer_pings(answering))
    started = asyncio.get_running_loop().time()
    assert await closed_by_server(quiet, within=3)
    assert asyncio.get_running_loop().time() - started < 2  # 0.4 s after its last packet
    await asyncio.sleep(4 * PING)  # the other answers every ping meanwhile: still served
    keeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await keeper
    await answering.send('420["echo","still here"]')
    assert await acks(answering, 1) == ['430["still here"]']
    assert len(sio.eio.sockets) == 1
    await answering.close()


@pytest.mark.parametrize(
    "frame", ["x", "", "4" + "a" * 2_000], ids=["not-a-packet", "empty", "too-large"]
)
async def test_a_broken_frame_closes_its_connection_only(
    served: tuple[DirectSocketIOServer, int], frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    sio, port = served
    other, broken = await connected(port), await connected(port)
    with caplog.at_level(logging.WARNING):
        await broken.send(frame)
        assert await closed_by_server(broken, within=3)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    await other.send('420["echo",1]')
    assert await acks(other, 1) == ["430[1]"]
    assert len(sio.eio.sockets) == 1
    await other.close()


@pytest.fixture
async def served_commits() -> AsyncIterator[tuple[DirectSocketIOServer, int]]:
    """Frames up to 1,000 bytes, and up to 5,000 for an epoch commit (as hub.py sets it up)."""
    sio = DirectSocketIOServer(
        async_mode="asgi",
        transports=["websocket"],
        ping_interval=PING,
        ping_timeout=PING,
        max_http_buffer_size=5_000,
    )
    sio.eio.max_message_bytes = 1_000

    @sio.on("*")  # type: ignore[untyped-decorator]
    async def size_of(event: str, sid: str, data: Any) -> Any:
        return len(data)

    async with serving(sio) as (_, port):
        yield sio, port


@pytest.mark.parametrize(
    ("event", "size", "served_ok"),
    [
        ("epoch.commit", 3_000, True),  # a hybrid commit may exceed max_message_bytes
        ("group.create", 3_000, True),
        ("epoch.commit", 6_000, False),  # not max_commit_bytes
        ("msg.send", 3_000, False),  # any other event is held to max_message_bytes
        ("xepoch.commit", 3_000, False),
    ],
)
async def test_only_a_commit_may_exceed_max_message_bytes(
    served_commits: tuple[DirectSocketIOServer, int], event: str, size: int, served_ok: bool
) -> None:
    _, port = served_commits
    ws = await connected(port)
    await ws.send(f'427["{event}","{"A" * size}"]')
    if served_ok:
        assert await acks(ws, 1) == [f"437[{size}]"]
        await ws.close()
    else:
        assert await closed_by_server(ws, within=3)
