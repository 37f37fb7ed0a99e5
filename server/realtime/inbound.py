"""An incoming event run by its handler and acknowledged in fewer steps than python-socketio's.

For each event a client sends, python-socketio (5.x) decodes the packet, looks its sid up and
starts a task for ``_handle_event_internal``, which resolves the handler (``_get_event_handler``:
the namespace, then the catch-all ``*`` handlers), checks it is a coroutine function, awaits it,
wraps the reply in an ACK packet object (walking the reply for bytes to send as attachments),
encodes that, wraps it in an engine.io packet and hands it on. In rooms of 10 that is a good
part of a message's cost, paid once per message like the Ed25519 check.

:class:`InboundFastPath` keeps the decoding and the lookups and does the rest in fewer steps,
for the events registered with :meth:`InboundFastPath.on_json_event`: handlers on the ``/``
namespace that are coroutine functions and reply with JSON values only (no ``bytes``), as every
Hearth event does (``hub.py``'s dispatcher returns a dict of strings and numbers). One task per
event awaits the handler; its reply is encoded once, as python-socketio would (``None`` as no
arguments, a tuple as several), and written as one engine.io message. Every other event (the
catch-all, other namespaces) takes python-socketio's own path, unchanged.

This relies on python-socketio's ``_handle_event``, ``manager.sid_from_eio_sid``,
``manager.is_connected``, ``handlers`` and ``_send_eio_packet``; tests/server/test_inbound.py
checks them and that replies match python-socketio's encoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

JsonHandler = Callable[..., Awaitable[Any]]


class InboundFastPath(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio with the short path for JSON-replying events (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._json_events: dict[str, JsonHandler] = {}
        self._running: set[asyncio.Task[None]] = set()

    def on_json_event(self, event: str, handler: JsonHandler) -> None:
        """Register ``handler`` for ``event`` on ``/``; it must reply with JSON values only."""
        self.on(event, handler)
        self._json_events[event] = handler

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: list[Any]
    ) -> None:
        handler = self._json_events.get(data[0]) if namespace in (None, "/") else None
        if handler is None or not self.async_handlers:
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        if not self.manager.is_connected(sid, "/"):
            return
        task = asyncio.ensure_future(self._run_json_event(handler, sid, eio_sid, id, data[1:]))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run_json_event(
        self, handler: JsonHandler, sid: str, eio_sid: str, id: int | None, args: list[Any]
    ) -> None:
        reply = await handler(sid, *args)
        if id is None:
            return
        data = [] if reply is None else list(reply) if isinstance(reply, tuple) else [reply]
        reply_json = self.packet_class.json.dumps(data, separators=(",", ":"))
        encoded = f"{sio_packet.ACK}{id}{reply_json}"
        await self._send_eio_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, encoded))
