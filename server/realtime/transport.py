"""Connections that end within a bounded time, whatever the peer does.

asyncio's ``transport.close()`` is graceful: it first writes out what is buffered. A peer that
stopped reading has filled its receive window, so that never happens: the socket, its buffers,
uvicorn's protocol and the ASGI task stayed for as long as the peer kept the TCP connection
(issue 16: 20 never-reading clients were logged as disconnected after ~45 s, and none of their
connections closed). Peers that open a TCP connection and send nothing were held forever too:
uvicorn's HTTP protocol has no timeout before the first request.

* :class:`BoundedWebSocketProtocol` (uvicorn's websockets-sansio protocol, as given to uvicorn
  by ``ws=``) aborts its transport when a close it started (a close frame sent, a keepalive
  timeout, the application returning, shutdown) has not ended the connection within
  ``[connections] close_timeout_seconds``. :func:`close_within_timeout` starts that clock for an
  engine.io socket the application gives up on (its reader ended, or it was cut off for not
  reading), whose writer may be blocked on a transport that will never drain.
* :class:`HandshakeTimeoutHttpToolsProtocol` (uvicorn's httptools protocol, given by ``http=``)
  aborts a connection that has not sent a whole HTTP request head within
  ``handshake_timeout_seconds``, or whose head passes 16 KiB (h11's bound, which httptools
  lacks). httptools (llhttp, in C) parses what the pure-Python h11 did at a fraction of the
  CPU: every connection starts with two requests, the challenge and the websocket upgrade
  (``python -m bench.connect``, docs/benchmarks.md "Connecting").
  :class:`HandshakeTimeoutH11Protocol` is the h11 one, kept for comparison (bench/churn_server.py).

A websocket that completes the upgrade and then stays silent is closed by the reader
(server/realtime/reader.py) after ``ping_interval_seconds + ping_timeout_seconds``, and then
within the close timeout. This relies on uvicorn's websockets-sansio protocol (``send``,
``run_asgi``, ``keepalive_timeout``, ``handle_close``, ``shutdown``, ``disconnected``,
``close_timeout``), httptools protocol (``connection_made``, ``data_received``,
``on_message_begin``, ``on_headers_complete``) and h11 protocol (``connection_made``,
``handle_events``, ``scope``);
tests/faults/test_stalled_clients.py shows the file descriptors come back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.config import ConnectionsConfig
from server.realtime.lean import LeanWebSocketProtocol

log = logging.getLogger("hearth.realtime")


class BoundedWebSocketProtocol(LeanWebSocketProtocol):
    """The lean websocket protocol whose closes end within ``close_timeout_s``."""

    close_timeout_s: ClassVar[float] = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_timeout = self.close_timeout_s  # uvicorn's wait for the peer's close frame
        self._abort_timer: asyncio.TimerHandle | None = None

    def abort_unless_closed(self) -> None:
        """Abort the transport unless the connection is gone within the close timeout."""
        if self._abort_timer is None and not self.disconnected:
            self._abort_timer = self.loop.call_later(self.close_timeout_s, self._abort)

    def _abort(self) -> None:
        self._abort_timer = None
        if not self.disconnected:
            log.info("aborting a connection whose close did not complete in time")
            self.transport.abort()  # connection_lost follows: buffers freed, waiters woken

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        super().connection_lost(exc)

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.close":
            # before uvicorn waits for the transport to be writable, which it may never be
            self.abort_unless_closed()
        await super().send(message)

    async def run_asgi(self) -> None:
        await super().run_asgi()
        self.abort_unless_closed()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.abort_unless_closed()

    def handle_close(self, event: Any) -> None:
        super().handle_close(event)
        self.abort_unless_closed()

    def handle_parser_exception(self) -> None:
        super().handle_parser_exception()
        self.abort_unless_closed()

    def shutdown(self) -> None:
        super().shutdown()
        self.abort_unless_closed()


def close_within_timeout(socket: Any) -> None:
    """Start the close clock of an engine.io socket's websocket (fanout.py's ``direct`` link)."""
    protocol = getattr(socket, "direct", None)
    if isinstance(protocol, BoundedWebSocketProtocol):
        protocol.abort_unless_closed()


class HandshakeTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that cuts a connection without a whole request in time."""

    handshake_timeout_s: ClassVar[float] = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._handshake_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.handshake_timeout_s, self._handshake_expired
        )

    def handle_events(self) -> None:
        super().handle_events()
        # a request has arrived (or the connection was upgraded to a websocket)
        if self.scope is not None and self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        super().connection_lost(exc)

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.scope is None:
            self.transport.abort()


class HandshakeTimeoutHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that cuts a connection without a whole request head in
    time, or with a head larger than ``max_head_bytes``."""

    handshake_timeout_s: ClassVar[float] = 10.0
    max_head_bytes: ClassVar[int] = 16 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._received_in_head = 0
        self._in_head = True
        self._handshake_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.handshake_timeout_s, self._handshake_expired
        )

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        # A chunk that completes the head may carry much of the body too (a 1 MB POST arrives
        # in 64 KiB reads): a head still incomplete after its bytes is bounded by what came so
        # far, a complete one by its own size (on_url, on_header).
        self._received_in_head += len(data)
        super().data_received(data)
        if self._in_head and self._received_in_head > self.max_head_bytes:
            self.transport.abort()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self.transport.abort()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._received_in_head = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        super().connection_lost(exc)

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        self.transport.abort()

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The websocket protocol has the transport now; this one is done, but the parser holds
        # its callbacks (bound methods of this protocol) and it holds the parser: a reference
        # cycle with the transport, the request's scope and headers in it, that uvicorn breaks
        # only in connection_lost, which the websocket protocol gets instead. Under Hearth's GC
        # settings (gcpolicy.py) such a cycle can wait ten minutes for a full collection, and
        # every upgrade left one (docs/benchmarks.md, "Memory after connections close").
        self.parser = None  # type: ignore[assignment]  # as uvicorn does in connection_lost


def bounded_protocols(
    config: ConnectionsConfig, *, http_parser: str = "httptools"
) -> tuple[type[asyncio.Protocol], type[BoundedWebSocketProtocol]]:
    """uvicorn's ``http=`` and ``ws=`` protocol classes with this configuration's timeouts
    (``http_parser="h11"``: the pure-Python parser Hearth used before, for bench.connect)."""
    base = (
        HandshakeTimeoutH11Protocol if http_parser == "h11" else HandshakeTimeoutHttpToolsProtocol
    )
    http = type(
        "ConfiguredHttpProtocol",
        (base,),
        {"handshake_timeout_s": config.handshake_timeout_seconds},
    )
    ws = type(
        "ConfiguredWebSocketProtocol",
        (BoundedWebSocketProtocol,),
        {"close_timeout_s": config.close_timeout_seconds},
    )
    return http, ws
