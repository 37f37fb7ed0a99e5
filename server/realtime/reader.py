"""A websocket's reads awaited directly, without a task and a ``wait_for`` per packet.

engine.io's websocket handler (``AsyncSocket._websocket_handler``) reads each incoming packet
in a task of its own, awaited through ``asyncio.wait_for`` with the ping timeout: on Python
3.11 that is two tasks, a timer and a future per packet, and every message a member sends pays
it before python-socketio sees it. :func:`serve_websocket` does what that handler does for a
socket that starts on the websocket (Hearth serves no polling, so none is ever upgraded): it
starts the socket's writer for queued packets, then reads in the connection's own task, with one
deadline (``asyncio.timeout``) moved on as each packet arrives. A client silent for
``ping_interval + ping_timeout`` is closed, as engine.io closes it; so is one that sends a packet
larger than ``max_http_buffer_size``, or a packet engine.io cannot decode (engine.io lets that
error escape to the server's log); a packet larger than ``server.max_message_bytes`` is allowed
only for an epoch commit (up to ``server.max_commit_bytes``). Packets are handled in order: a
message packet goes straight
to python-socketio's handler for it (what ``AsyncSocket.receive`` calls, through engine.io's
``_trigger_event``, which builds a closure per packet), every other packet to
``AsyncSocket.receive``, with engine.io's handling of its errors.

This relies on python-engineio's ``AsyncSocket`` (``connected``, ``upgraded``, ``poll``,
``receive``, ``close``, ``queue``), its server's ``handlers["message"]`` and its ASGI
``WebSocket`` (``wait``, ``send``, ``close``); tests/server/test_reader.py checks them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

from server.realtime.lean import release
from server.realtime.transport import close_within_timeout

log = logging.getLogger("hearth.realtime")

# An event packet of epoch.commit or group.create (engine.io message "4", Socket.IO event "2",
# an optional ack id): only these may exceed server.max_message_bytes, up to max_commit_bytes
# (a hybrid-suite commit takes 2.5 kB per member, docs/protocol.md §6.9).
_COMMIT_PACKET = re.compile(r'42[0-9]{0,12}\["(?:epoch\.commit|group\.create)",')


async def serve_websocket(socket: Any, ws: Any) -> None:
    """Serve engine.io ``socket`` over ``ws`` until either side closes (see the module
    docstring)."""
    socket.connected = True
    socket.upgraded = True
    writer = asyncio.ensure_future(_write_queued(socket, ws))
    # Quiet for too long, the websocket closed, or the server is stopping (engine.io too ends
    # the connection cleanly then).
    with contextlib.suppress(TimeoutError, OSError, asyncio.CancelledError):
        await _read(socket, ws)
    socket.queue.put_nowait(None)  # the writer's stop signal
    # A peer that stopped reading blocks the writer for good: abort the transport in time.
    close_within_timeout(socket)
    await writer
    await socket.close(wait=False, abort=True, reason=socket.server.reason.TRANSPORT_CLOSE)
    # engine.io's ping task would keep the socket for up to a ping interval more: end it, and
    # let go of uvicorn's protocol (transport, parser, scope) now
    release(socket)
    socket.direct = None


async def _read(socket: Any, ws: Any) -> None:
    server = socket.server
    quiet_limit = server.ping_interval + server.ping_timeout
    # python-socketio's handler of engine.io messages: what AsyncSocket.receive calls for them,
    # by way of engine.io's _trigger_event (a closure and a coroutine function check each)
    on_message = server.handlers["message"]
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as deadline:
        while True:
            deadline.reschedule(loop.time() + quiet_limit)
            data = await ws.wait()
            if len(data) > server.max_http_buffer_size or (
                len(data) > getattr(server, "max_message_bytes", len(data))
                and not (isinstance(data, str) and _COMMIT_PACKET.match(data, 0, 64))
            ):
                return
            try:
                pkt = eio_packet.Packet(encoded_packet=data)
            except Exception:  # not an engine.io packet: a broken client
                return
            try:
                if pkt.packet_type == eio_packet.MESSAGE:
                    await _handle_message(on_message, socket.sid, pkt.data)
                else:
                    await socket.receive(pkt)
            except eio_exceptions.UnknownPacketError:
                pass
            except eio_exceptions.SocketIsClosedError:
                return
            except Exception:
                log.exception("an incoming packet failed")


async def _handle_message(on_message: Any, sid: str, data: Any) -> None:
    """A message packet, to python-socketio. What escapes it is a packet it could not decode or
    did not expect (the handlers answer their own errors): the client's fault, so no traceback
    (a cheap way to flood the log) and nothing of the packet, as engine.io's own path does."""
    try:
        await on_message(sid, data)
    except Exception as error:
        log.debug("a malformed Socket.IO packet was ignored (%s)", type(error).__name__)


async def _write_queued(socket: Any, ws: Any) -> None:
    """Write the packets put on the socket's queue until it stops or the websocket fails."""
    while True:
        try:
            packets = await socket.poll()
        except eio_exceptions.QueueEmpty:
            break
        if not packets:  # the stop signal
            break
        try:
            for pkt in packets:
                await ws.send(pkt.encode())
        except Exception:
            break
    await ws.close()
