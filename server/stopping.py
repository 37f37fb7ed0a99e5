"""Stopping on SIGTERM (systemd's stop) or SIGINT: cleanly, and within a bounded time.

uvicorn alone closes the sockets first (WebSocket close code 1012, "service restart", which
Socket.IO clients answer by reconnecting), then runs the app's shutdown, and then raises the
signal again with its default action: a SIGTERM kills the process right there, before the
database is closed, so the WAL is left unmerged and the exit status says "killed". Here, in
order, each step bounded by ``server.shutdown_timeout_seconds``:

1. new events are refused with ``unavailable`` (and ``retry_after_ms``); events already running
   finish, so that the messages being stored commit and their senders get their
   acknowledgements; what waits to be delivered is sent (``Hub.drain``);
2. uvicorn closes every socket with 1012 and waits for the connections to end;
3. the app's shutdown (``server/app.py``), then ``Database.close``: writes still queued
   commit, the WAL is checkpointed into the database (``TRUNCATE``) and every connection closes;
4. the process exits with status 0.
"""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

import uvicorn

from server.realtime.hub import Hub

log = logging.getLogger("hearth")


class StoppingServer(uvicorn.Server):
    """uvicorn's server that drains the hub before it closes the sockets."""

    def __init__(self, config: uvicorn.Config, hub: Hub, timeout: float) -> None:
        super().__init__(config)
        self.hub = hub
        self.timeout = timeout

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.started and not self.force_exit:
            log.info("stopping: finishing the events being handled")
            left = await self.hub.drain(self.timeout)
            if left:
                log.warning("stopping: %d event(s) still running after %.0f s", left, self.timeout)
        await super().shutdown(sockets)


def keep_running_after_signal() -> None:
    """Let a SIGTERM that uvicorn raises again after its shutdown end nothing: the caller
    closes the database and returns (uvicorn restores this handler before it raises)."""

    def already_stopping(signum: int, frame: FrameType | None) -> None:
        pass  # uvicorn's own handler has started the stop; the caller finishes it

    signal.signal(signal.SIGTERM, already_stopping)
