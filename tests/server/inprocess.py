"""A real uvicorn serving a python-socketio server in the test's own event loop, on Hearth's
websocket protocol: for tests that look into the server's objects between two frames. Also a
raw websocket client connected to it, and a count of the tasks the loop creates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any

import socketio
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from server.realtime.lean import LeanWebSocketProtocol
from tests.conftest import free_port


@contextlib.asynccontextmanager
async def serving(sio: socketio.AsyncServer) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    """Serve ``sio`` on a free loopback port until the block ends; yields the server and port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            socketio.ASGIApp(sio),
            host="127.0.0.1",
            port=port,
            ws=LeanWebSocketProtocol,
            ws_per_message_deflate=False,
            lifespan="off",
            log_level="warning",
        )
    )
    task = asyncio.ensure_future(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server has no event for it
        await asyncio.sleep(0.01)
    try:
        yield server, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def connected(port: int) -> ClientConnection:
    """A raw websocket that has opened engine.io and joined Socket.IO's ``/`` namespace."""
    ws = await connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0")
    await ws.send("40")
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40")
    return ws


@contextlib.contextmanager
def counting_tasks() -> Iterator[Callable[[], int]]:
    """Count the tasks the running loop creates inside the block; yields the count's getter."""
    loop = asyncio.get_running_loop()
    created = 0

    def counting(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any]
    ) -> asyncio.Task[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop)

    loop.set_task_factory(counting)  # type: ignore[arg-type]
    try:
        yield lambda: created
    finally:
        loop.set_task_factory(None)
