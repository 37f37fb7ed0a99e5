"""A room broadcast framed once and written to each recipient's socket.

For every recipient of a broadcast python-socketio creates a task that puts the packet on that
socket's engine.io queue; the socket's writer task wakes, takes it, encodes it and hands it to
uvicorn, which frames it and writes it: two task steps and a queue per delivery. Node's
socket.io frames a broadcast once and writes the same bytes to every socket; here too:

* :class:`DirectManager` is python-socketio's manager whose ``emit`` (without a callback: every
  recipient gets the same packet) builds the websocket frame once and writes it straight to the
  transport of each recipient that has nothing else waiting to be written. The others (a packet
  of theirs is still queued or on its way, their transport is paused because they read slowly,
  they are closing) get the packet through engine.io's queue as before, so each socket still
  sees its frames in the order they were sent, and a client that does not read still fills its
  queue (the hub's backlog limit still cuts it off). A packet for one socket (an ack, an event
  to one client) takes the same path in :class:`DirectEngineIOServer`'s ``send_packet``.
* Knowing "nothing else waiting" needs two things engine.io does not keep: :class:`OutgoingQueue`
  counts the packets put on a socket's queue and not yet written, and :class:`LinkedWebSocket`
  (engine.io's ASGI websocket) counts each write and links the engine.io socket to uvicorn's
  protocol, whose transport the frame goes to. It also reads the socket's packets with
  :func:`server.realtime.reader.serve_websocket` in place of engine.io's handler.

Measured side by side with the engine.io path (docs/benchmarks.md): server CPU per delivery
25.5 → 20.8 µs in rooms of 25, 90.5 → 77.1 µs in rooms of 10.

Only websocket transports without extensions qualify (Hearth serves websocket only and turns
per-message deflate off); anything else takes engine.io's path. With ``[scale] redis_url`` the
Redis manager publishes a broadcast and each process's listener fans it out here.

This relies on python-socketio's ``get_participants`` and ``_send_eio_packet``, python-engineio's
``sockets``, ``_async["websocket"]`` and its ASGI ``WebSocket`` (``handler``, ``asgi_send``),
and uvicorn's websockets-sansio protocol (``transport``, ``conn``, ``writable``);
tests/server/test_fanout.py checks them.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import engineio
from engineio import packet as eio_packet
from engineio.async_drivers.asgi import WebSocket as EngineIOWebSocket
from socketio import packet as sio_packet
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from server.realtime.environ import translate_request
from server.realtime.inbound import InboundFastPath
from server.realtime.lean import LeanEngineIOServer, LeanQueue, LeanSocketIOServer
from server.realtime.reader import serve_websocket
from server.realtime.rooms import IndexedRooms


class OutgoingQueue(LeanQueue):
    """An engine.io socket's outgoing queue that knows how many of its packets, and how many
    bytes, are not yet written (``None``, engine.io's stop signal for the writer, is not a
    packet). Past ``max_bytes`` unwritten bytes (0: no bound) it takes no more packets and calls
    ``on_over_limit``: the socket does not read, and the hub's backlog watcher disconnects it;
    what it would have been sent is dropped rather than held in memory meanwhile."""

    def __init__(self, maxsize: int = 0, *, max_bytes: int = 0, on_over_limit: Any = None) -> None:
        super().__init__(maxsize)
        self.unwritten = 0
        self.unwritten_bytes = 0
        self.max_bytes = max_bytes
        self.over_limit = False
        self._on_over_limit = on_over_limit

    def _put(self, item: Any) -> None:
        if item is None:
            super()._put(item)
            return
        if self.over_limit:
            return  # dropped: the socket is being disconnected
        size = len(item.encode())  # engine.io caches it: the writer sends these very bytes
        if self.max_bytes and self.unwritten_bytes + size > self.max_bytes and self.unwritten:
            self.over_limit = True
            if self._on_over_limit is not None:
                self._on_over_limit()
            return
        super()._put(item)
        self.unwritten += 1
        self.unwritten_bytes += size


class LinkedWebSocket(EngineIOWebSocket):  # type: ignore[misc]
    """engine.io's ASGI websocket, which links its engine.io socket to uvicorn's protocol and
    counts the writes of the socket's writer (:class:`DirectEngineIOServer` gives every socket
    an :class:`OutgoingQueue`)."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        # the engine.io socket whose _websocket_handler engine.io gave us
        self.socket: Any = self.handler.__self__  # type: ignore[has-type]
        socket = self.socket
        protocol = getattr(environ["asgi.send"], "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol):  # another server: engine.io's path
            socket.direct = protocol
        if not socket.connected:  # starts on the websocket (not an upgrade from polling)
            self.handler = functools.partial(serve_websocket, socket)
        return await super().__call__(environ)

    async def send(self, message: str | bytes) -> None:
        await super().send(message)
        queue = self.socket.queue
        queue.unwritten -= 1
        queue.unwritten_bytes -= len(message)


def frame_of(pkt: eio_packet.Packet) -> bytes:
    """The websocket frame (server to client: unmasked) that carries an engine.io packet."""
    encoded = pkt.encode()
    if isinstance(encoded, bytes):
        return Frame(Opcode.BINARY, encoded).serialize(mask=False)
    payload: bytes = encoded.encode()
    return _text_frame_header(len(payload)) + payload


def _text_frame_header(length: int) -> bytes:
    """RFC 6455 §5.2 for a final, unmasked text frame (what websockets' ``Frame.serialize``
    writes, without its checks and buffer: this runs for every ack and broadcast)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 0x10000:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


def direct_transport(socket: Any) -> asyncio.WriteTransport | None:
    """The socket's transport, if a frame written to it now cannot overtake one of its own
    packets; None if it must take engine.io's queue."""
    protocol: WebSocketsSansIOProtocol | None = getattr(socket, "direct", None)
    if (
        protocol is None
        or socket.queue.unwritten
        or socket.closing
        or socket.closed
        or not protocol.writable.is_set()  # a slow reader: let its queue show it
        or protocol.conn.state is not State.OPEN  # also once uvicorn has sent a close
        or protocol.conn.extensions
        or protocol.transport.is_closing()
    ):
        return None
    transport: asyncio.WriteTransport = protocol.transport
    return transport


class DirectManager(IndexedRooms):
    """python-socketio's manager with a broadcast framed once (see the module's docstring), and
    each socket's rooms indexed (rooms.py). ``relayed`` counts the broadcasts that reached at
    least one socket of this process, whichever process accepted them (the heap trimmer waits
    while it grows fast: heaptrim.py)."""

    relayed = 0

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: str | list[str] | None = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
            )
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        if isinstance(encoded, list):  # binary attachments: several engine.io packets
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid)
            return
        eio_pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        frame = frame_of(eio_pkt)
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        sockets = self.server.eio.sockets
        queued = []
        written = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skipped:
                continue
            transport = direct_transport(sockets.get(eio_sid))
            if transport is not None:
                transport.write(frame)
                written += 1
            else:
                queued.append(asyncio.create_task(self.server._send_eio_packet(eio_sid, eio_pkt)))
        if written or queued:
            self.relayed += 1
        if queued:
            await asyncio.wait(queued)


class DirectEngineIOServer(LeanEngineIOServer):
    """engine.io with the counting queue and the linking websocket, which writes a packet for
    one socket (an ack, an event to one client) straight to its transport when it can."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No service task: every socket starts on the websocket, whose reader closes it once the
        # client is quiet for a ping interval and timeout (reader.py). engine.io's task checked
        # the same, socket by socket, from a copy of the socket table spread over a ping timeout
        # (20 s): each socket open when a pass began stayed in memory until the pass ended, closed
        # or not (docs/benchmarks.md, "Memory after connections close").
        kwargs["monitor_clients"] = False
        super().__init__(*args, **kwargs)
        self._async = {
            **self._async,  # type: ignore[has-type]
            "websocket": LinkedWebSocket,
            # no class per request: what a connection held is freed when it ends (environ.py)
            "translate_request": translate_request,
        }
        self.max_backlog_bytes = 0  # set by the hub from [limits]; 0: no bound
        self.backlog_over_limit = asyncio.Event()  # wakes the hub's backlog watcher

    def create_queue(self, *args: Any, **kwargs: Any) -> OutgoingQueue:
        return OutgoingQueue(
            *args,
            max_bytes=self.max_backlog_bytes,
            on_over_limit=self.backlog_over_limit.set,
            **kwargs,
        )

    async def send_packet(self, sid: str, pkt: eio_packet.Packet) -> None:
        transport = direct_transport(self.sockets.get(sid))
        if transport is not None:
            transport.write(frame_of(pkt))
        else:
            await super().send_packet(sid, pkt)


class DirectSocketIOServer(InboundFastPath, LeanSocketIOServer):
    """python-socketio on :class:`DirectEngineIOServer`, with :class:`DirectManager` unless
    another manager (Redis) is given, and the short path for incoming events (inbound.py)."""

    def __init__(self, *args: Any, client_manager: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, client_manager=client_manager or DirectManager(), **kwargs)

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return DirectEngineIOServer
