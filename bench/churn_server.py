"""``hearth serve`` for bench/churn.py and bench/connect.py: ``shipped`` runs it as it is;
``default`` turns Hearth's garbage-collector tuning off, so that Python's default settings serve
as the baseline; ``before`` is the connect path as it was before 2026-12-07: a leaving socket's
rooms found as python-socketio does, by testing every room (server/realtime/rooms.py), and HTTP
parsed by h11 instead of httptools (server/realtime/transport.py); ``unfreed`` is what a closed
connection left in memory before 2026-12-07 08:00: its HTTP protocol in a reference cycle with
its parser (server/realtime/transport.py), engine.io's service task holding sockets for a ping
timeout (server/realtime/fanout.py), and no heap trim (server/heaptrim.py); ``pinned`` is what
kept the pymalloc arenas of a wave of connections before 2026-12-07 11:00: websockets' protocol
in a cycle with its parser (server/realtime/lean.py) and no full collection after a wave
(server/heaptrim.py); ``pymalloc`` is the shipped code on CPython's own allocator, as it ran
before 2026-12-07 14:00 (server/allocator.py). Every mode but ``shipped`` runs on CPython's own
allocator (bench/churn.py writes ``allocator = "python"`` for it).

    python -m bench.churn_server shipped|pymalloc|default|before|unfreed|pinned CONFIG
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from typing import Any

import socketio
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from bench import arenas
from server import app
from server.cli import main
from server.heaptrim import HeapTrimmer
from server.realtime import transport
from server.realtime.fanout import DirectEngineIOServer
from server.realtime.lean import LeanWebSocketProtocol
from server.realtime.rooms import IndexedRooms


def _default_gc() -> None:
    """No ``gc.freeze()`` and no threshold change: whatever Hearth asks, the defaults stay."""
    gc.freeze = lambda: None
    gc.set_threshold = lambda *thresholds: None  # type: ignore[assignment]


def _connect_path_before() -> None:
    """python-socketio's own disconnect (every room tested for the leaving socket) and h11."""
    IndexedRooms.basic_disconnect = socketio.AsyncManager.basic_disconnect  # type: ignore[method-assign]
    IndexedRooms.get_rooms = socketio.AsyncManager.get_rooms  # type: ignore[method-assign]
    bounded = transport.bounded_protocols
    app.bounded_protocols = lambda config: bounded(config, http_parser="h11")  # type: ignore[assignment]


def _unfreed() -> None:
    """The parser cycle, engine.io's service task and no heap trim."""
    protocol = transport.HandshakeTimeoutHttpToolsProtocol
    protocol.handle_websocket_upgrade = HttpToolsProtocol.handle_websocket_upgrade  # type: ignore[method-assign]
    init = DirectEngineIOServer.__init__

    def with_service_task(self: DirectEngineIOServer, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.start_service_task = True

    DirectEngineIOServer.__init__ = with_service_task  # type: ignore[method-assign]
    app.heap_release = lambda: None
    app.HeapTrimmer = functools.partial(HeapTrimmer, collect=lambda: None)  # type: ignore[misc]


def _pinned() -> None:
    """Websockets' parser cycle and no collection after a wave."""
    LeanWebSocketProtocol.connection_lost = WebSocketsSansIOProtocol.connection_lost  # type: ignore[method-assign]
    app.HeapTrimmer = functools.partial(HeapTrimmer, collect=lambda: None)  # type: ignore[misc]


if __name__ == "__main__":
    mode, config = sys.argv[1], sys.argv[2]
    if arenas.PROBE_ENV in os.environ:  # bench.connect --probe
        arenas.install()
    if mode == "default":
        _default_gc()
    elif mode == "before":
        _connect_path_before()
    elif mode == "unfreed":
        _unfreed()
    elif mode == "pinned":
        _pinned()
    elif mode not in ("shipped", "pymalloc"):
        raise SystemExit(
            f"unknown mode {mode!r}: shipped, pymalloc, default, before, unfreed or pinned"
        )
    sys.exit(main(["serve", "--config", config]))
