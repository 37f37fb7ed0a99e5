"""Smaller per-connection objects for the websocket stack: memory per idle connection.

Every open Socket.IO connection holds objects of three libraries: python-engineio's socket (its
outgoing queue, reader, writer and ping tasks, the request's ``environ``), uvicorn's websocket
protocol (its incoming queue, a ``writable`` event, the handshake's request and response, the
ASGI scope) and python-socketio's rooms. Measured on 1,000 idle connections (tracemalloc, and
RSS as the relay benchmark reads it), the bare python-socketio relay costs ~42 kB of RSS per
connection, and a good part of it is objects that sit empty or are never read again:

* an ``asyncio.Queue`` is four deques (items, waiting getters, waiting putters, and the
  ``Event`` behind ``join()``), and a deque is 760 bytes even when empty: engine.io's outgoing
  queue and uvicorn's incoming queue cost ~3 kB each, uvicorn's ``writable`` event 760 bytes;
* uvicorn keeps the handshake's parsed request and response (~4.5 kB with their headers;
  websockets' parser holds the request for the connection's lifetime too).

Here, with the same behaviour:

* :class:`LeanQueue` and :class:`LeanEvent` are ``asyncio.Queue`` and ``asyncio.Event`` with
  lists where asyncio uses deques: asyncio's own code runs, only the containers differ. A
  connection's queue holds a few items and one waiter, so lists cost nothing in speed; a full
  backlog (``max_outgoing_backlog`` items) costs ``list.pop(0)`` moves of that many pointers.
* :class:`LeanSocketIOServer` is ``socketio.AsyncServer`` on an engine.io server whose sockets
  get a :class:`LeanQueue` (engine.io's ``create_queue`` hook).
* :class:`LeanWebSocketProtocol` is uvicorn's websockets-sansio protocol (given to uvicorn as
  ``ws=``) with a :class:`LeanQueue` and a :class:`LeanEvent`, which lets go of the handshake's
  request and response once the handshake is done.

These rely on names inside asyncio (``_getters``, ``_putters``, ``_finished``, ``_waiters``,
``_init``/``_get``/``_put``), python-engineio 4.x (``create_queue``) and uvicorn's
websockets-sansio protocol (``queue``, ``writable``, ``request``, ``response``, ``conn``),
websockets' ``Protocol.parser`` and engine.io's
``AsyncSocket._send_ping`` (started through ``start_background_task``);
tests/server/test_lean.py checks them, so that an upgrade that moves them fails there.
Measured effect: docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio
from engineio.async_socket import AsyncSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class _Waiters(list[Any]):
    """A list where asyncio keeps a deque of waiting futures: there are rarely more than one,
    and an empty list is 56 bytes where an empty deque is 760."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


class LeanEvent(asyncio.Event):
    """``asyncio.Event`` with its waiters in a list."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters = _Waiters()  # type: ignore[assignment]  # typeshed: a deque


class LeanQueue(asyncio.Queue[Any]):
    """``asyncio.Queue`` with its items, getters and putters in lists and a :class:`LeanEvent`
    behind ``join()``: asyncio's own methods, smaller containers."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        # replacing asyncio's (new, empty) deques and its Event, set as a new queue's is
        self._getters = _Waiters()
        self._putters = _Waiters()
        self._finished = LeanEvent()
        self._finished.set()

    def _init(self, maxsize: int) -> None:
        self._queue: list[Any] = []

    def _get(self) -> Any:
        return self._queue.pop(0)

    def _put(self, item: Any) -> None:
        self._queue.append(item)


class LeanEngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server with a :class:`LeanQueue` per socket (its ``create_queue`` hook), which
    keeps each socket's ping task on the socket (``ping_task``), so that :func:`release` can end
    it: the task sleeps a ping interval (25 s) and would keep a closed socket that long."""

    def create_queue(self, *args: Any, **kwargs: Any) -> LeanQueue:
        return LeanQueue(*args, **kwargs)

    def start_background_task(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        task = super().start_background_task(target, *args, **kwargs)
        if getattr(target, "__func__", None) is AsyncSocket._send_ping:
            target.__self__.ping_task = task
        return task


def release(socket: Any) -> None:
    """A closed engine.io socket's ping task ends now rather than after its sleep."""
    task = getattr(socket, "ping_task", None)
    if task is not None:
        task.cancel()
        # the cancelled task's traceback holds the socket: no reference back, no cycle
        socket.ping_task = None


class LeanSocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return LeanEngineIOServer


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with the smaller queue and event, without the
    handshake's request and response after the handshake, and whose websockets protocol is
    freed as soon as the connection is lost."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()
        self.writable = LeanEvent()
        self.writable.set()

    def start_keepalive(self) -> None:
        # Called once, as the last step of accepting the handshake (the response is written):
        # only the handshake reads the request and the response; the ASGI scope keeps the
        # request's headers. (Here rather than in ``send``, which every frame goes through.)
        super().start_keepalive()
        request = self.request
        del self.request, self.response
        # websockets' parser keeps the request object as long as the connection lives
        request.headers.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # websockets' parser is a generator that never returns (it ends suspended at a last
        # ``yield``), and its frame holds the protocol that holds it: a reference cycle with the
        # stream reader, the close frames and the handshake's leftovers, ~1.5 kB a connection.
        # Under Hearth's GC settings (server/gcpolicy.py) it waited minutes for a collection, and
        # the ~20 small blocks of each, scattered over the pymalloc arenas of a wave of
        # connections, kept those arenas from going back to the system (docs/benchmarks.md,
        # "Memory after connections close"). Nothing is parsed after the connection is lost.
        self.conn.parser.close()
