"""Delivering stored messages to a group's room, coalesced or one by one.

Each recipient of a broadcast costs python-socketio a task, a queue put, framing and a socket
write, whatever the message. So a group's messages that become deliverable together go out as
one ``msg.batch`` frame, and that per-recipient cost is paid once per batch:

* with ``[server] coalesce_ms = 0`` (the default) a batch is what one turn of the event loop
  delivers: the writer commits messages in batches and their senders' handlers all resume in
  the same turn, so a busy group's messages share frames while a quiet group's message waits
  for nothing;
* with ``coalesce_ms`` above 0 a batch also takes what arrives within that window after its
  first message (fewer, larger frames; each delivery waits up to the window).

A batch holds at most ``coalesce_max`` messages (a full one goes at once) and includes its
senders' own messages (each client knows its own by msg_id): one frame cannot skip a different
socket per message. A batch whose messages all came from one socket skips that socket, which has
them already (and their acknowledgements): a quiet group's message is sent to its sender only
once. ``coalesce_max = 1`` turns coalescing off: each message goes on its own as a ``msg`` event
to every socket of the group but its sender's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from crypto.encoding import b64encode
from server.realtime.wire import group_room


@dataclass(slots=True)
class _Batch:
    messages: list[dict[str, Any]] = field(default_factory=list)
    senders: set[str] = field(default_factory=set)  # the sockets the messages came from


class Deliveries:
    def __init__(self, sio: socketio.AsyncServer, *, window_ms: float, max_batch: int) -> None:
        self._sio = sio
        self._window = window_ms / 1000
        self._max = max_batch
        self._pending: dict[bytes, _Batch] = {}
        self._flush_all_started = False  # a task will send every group's batch of this turn
        # A pub/sub manager (Redis) waits for each broadcast's publish: one task per group lets
        # a turn's publishes overlap (one task for all of them cost a fifth of the throughput
        # of two processes); a local broadcast is written without waiting, one task suffices.
        self._task_per_group = isinstance(sio.manager, AsyncPubSubManager)
        self._flushing: set[asyncio.Task[None]] = set()

    async def deliver(self, group_id: bytes, view: dict[str, Any], sender_sid: str) -> None:
        if self._max <= 1:
            await self._sio.emit("msg", view, room=group_room(group_id), skip_sid=sender_sid)
            return
        batch = self._pending.get(group_id)
        if batch is None:
            batch = self._pending[group_id] = _Batch()
        batch.messages.append(view)
        batch.senders.add(sender_sid)
        if len(batch.messages) >= self._max:
            await self._flush(group_id)
        elif len(batch.messages) == 1:
            if self._window > 0:
                asyncio.get_running_loop().call_later(self._window, self._flush_later, group_id)
            elif self._task_per_group:
                self._flush_later(group_id)
            else:
                # One task sends every group's batch of this turn: its first step runs after
                # the callbacks already ready, so the other handlers resumed by the same commit
                # add their messages first (a task per group cost one per message in small rooms).
                if not self._flush_all_started:
                    self._flush_all_started = True
                    self._start(self._flush_all())

    def _flush_later(self, group_id: bytes) -> None:
        self._start(self._flush(group_id))

    def _start(self, flush: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(flush)
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_all(self) -> None:
        self._flush_all_started = False
        await self.close()

    async def _flush(self, group_id: bytes) -> None:
        batch = self._pending.pop(group_id, None)
        if batch is not None:
            await self._sio.emit(
                "msg.batch",
                {"group_id": b64encode(group_id), "messages": batch.messages},
                room=group_room(group_id),
                skip_sid=next(iter(batch.senders)) if len(batch.senders) == 1 else None,
            )

    async def close(self) -> None:
        """Send whatever is still waiting (at shutdown, and at the end of each turn)."""
        for group_id in list(self._pending):
            await self._flush(group_id)
