"""A real uvicorn serving a python-socketio server in the test's own event loop, on Hearth's
websocket protocol: for tests that look into the server's objects between two frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import socketio
import uvicorn

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
