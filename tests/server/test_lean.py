"""server/realtime/lean.py: the smaller per-connection objects behave as the ones they replace,
and the library internals they rely on are still where they expect them."""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from engineio.async_socket import AsyncSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.realtime.lean import (
    LeanEngineIOServer,
    LeanEvent,
    LeanQueue,
    LeanSocketIOServer,
    LeanWebSocketProtocol,
    release,
)
from tests.server.inprocess import serving

# ---- the queue and the event ----------------------------------------------------------------


def no_deques(obj: Any) -> bool:
    return not any(isinstance(v, collections.deque) for v in vars(obj).values())


async def test_queue_keeps_no_deque_and_is_fifo() -> None:
    queue = LeanQueue()
    assert no_deques(queue)
    assert no_deques(queue._finished)
    for item in range(5):
        await queue.put(item)
    assert queue.qsize() == 5
    assert not queue.empty()
    assert not queue.full()
    assert [await queue.get() for _ in range(3)] == [0, 1, 2]
    assert [queue.get_nowait(), queue.get_nowait()] == [3, 4]
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_queue_get_waits_for_a_put() -> None:
    queue = LeanQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_queue_timed_out_get_loses_nothing() -> None:
    """engine.io's writer waits with wait_for(queue.get(), timeout)."""
    queue = LeanQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait("after")
    assert queue.get_nowait() == "after"
    cancelled = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    queue.put_nowait("kept")
    assert await asyncio.wait_for(queue.get(), 1) == "kept"


async def test_queue_join_waits_for_task_done() -> None:
    """engine.io's close(wait=True) joins the socket's queue."""
    queue = LeanQueue()
    await asyncio.wait_for(queue.join(), 1)  # nothing put: returns at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0.01)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError, match="too many times"):
        queue.task_done()


async def test_event_waits_and_clears() -> None:
    event = LeanEvent()
    assert no_deques(event)
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    event.clear()
    late = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0.01)
    assert not late.done()
    event.set()
    await asyncio.wait_for(late, 1)


# ---- a real server: uvicorn, the lean protocol, engine.io's ping and close --------------------


@pytest.fixture
async def lean_server() -> AsyncIterator[tuple[uvicorn.Server, LeanSocketIOServer, int]]:
    sio = LeanSocketIOServer(
        async_mode="asgi", transports=["websocket"], ping_interval=0.3, ping_timeout=0.3
    )
    async with serving(sio) as (server, port):
        yield server, sio, port


async def open_socket(port: int) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    opened = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(opened, str)
    assert opened[0] == "0"
    await ws.send("40")
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40")
    return ws, json.loads(opened[1:])


async def drain(ws: ClientConnection) -> None:
    """Read until the server closes the connection (ConnectionClosed), 3 s at most a frame."""
    while True:
        await asyncio.wait_for(ws.recv(), 3)


async def test_connections_hold_the_lean_objects(
    lean_server: tuple[uvicorn.Server, LeanSocketIOServer, int],
) -> None:
    server, sio, port = lean_server
    ws, _ = await open_socket(port)
    try:
        protocols = [
            p for p in server.server_state.connections if isinstance(p, LeanWebSocketProtocol)
        ]
        assert len(protocols) == 1
        protocol = protocols[0]
        assert isinstance(protocol.queue, LeanQueue)
        assert isinstance(protocol.writable, LeanEvent)
        assert "request" not in vars(protocol)
        assert "response" not in vars(protocol)
        (engine_socket,) = sio.eio.sockets.values()
        assert isinstance(engine_socket, AsyncSocket)
        assert isinstance(engine_socket.queue, LeanQueue)
        # the request's headers stay in the ASGI scope (python-socketio's environ)
        environ = sio.get_environ(next(iter(sio.manager.rooms["/"][None])))
        assert environ["HTTP_HOST"] == f"127.0.0.1:{port}"
    finally:
        await ws.close()


async def test_engineio_pings_on_schedule_and_drops_the_silent(
    lean_server: tuple[uvicorn.Server, LeanSocketIOServer, int],
) -> None:
    _, sio, port = lean_server
    ws, _ = await open_socket(port)
    try:
        for _ in range(3):  # each pong schedules the next ping
            assert await asyncio.wait_for(ws.recv(), 2) == "2"
            await ws.send("3")
        assert await asyncio.wait_for(ws.recv(), 2) == "2"
        # no pong: engine.io closes the connection after ping_timeout
        with pytest.raises(ConnectionClosed):
            await drain(ws)
        deadline = asyncio.get_running_loop().time() + 3
        while sio.eio.sockets and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert not sio.eio.sockets
    finally:
        await ws.close()


async def test_a_released_socket_ends_its_ping_task_at_once() -> None:
    """engine.io's ping task sleeps a ping interval holding its socket; release ends it, and the
    socket keeps no reference to the cancelled task (whose traceback holds the socket)."""
    server = LeanEngineIOServer(async_mode="asgi", ping_interval=25)
    socket = AsyncSocket(server, "sid")
    task = server.start_background_task(socket._send_ping)
    assert socket.ping_task is task
    await asyncio.sleep(0)
    release(socket)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert socket.ping_task is None
    release(socket)  # again, or for a socket without a ping task: nothing happens
