"""What several Hearth processes sharing one database tell each other.

Room broadcasts between processes are python-socketio's job (its pub/sub manager). What it
does not carry is the relay's own in-memory state: the cached view of each group, which local
sockets sit in which group room, and which groups have a facilitator online. Every change to
those is published as a small JSON notice on a bus; each process, the sender included, applies
it to itself. With one process the bus is a direct call. With several, both travel over the
process's :class:`~server.redislink.RedisLink`, which outlives an outage of Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from socketio.async_pubsub_manager import AsyncPubSubManager

from server.realtime.catchup import DeliveryLedger
from server.realtime.fanout import DirectManager
from server.redislink import RedisLink, redis_client  # noqa: F401  (imported from here before)

log = logging.getLogger("hearth.cluster")
Notice = dict[str, Any]
Handler = Callable[[Notice], Awaitable[None]]
CHANNEL = "hearth-cluster"
SOCKETIO_CHANNEL = "hearth-socketio"


class RedisManager(AsyncPubSubManager, DirectManager):  # type: ignore[misc]
    """python-socketio's pub/sub manager on the process's :class:`RedisLink` (one subscription
    that comes back after an outage; a publish that fails is dropped, and the processes catch up
    from the database once the link is back). What it receives is fanned out by
    :class:`DirectManager` (one frame for every local recipient), after the :class:`DeliveryLedger`
    has removed the messages this process has delivered already."""

    name = "hearth-redis"

    def __init__(self, link: RedisLink, channel: str = SOCKETIO_CHANNEL) -> None:
        super().__init__(channel=channel)
        self.link = link
        self.ledger: DeliveryLedger | None = None  # set by the hub
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        link.receive(channel, self._receive)

    async def _receive(self, data: bytes) -> None:
        self._inbox.put_nowait(data)

    async def _listen(self) -> Any:  # read by AsyncPubSubManager._thread
        while True:
            yield await self._inbox.get()

    async def _publish(self, data: Any) -> None:
        await self.link.publish(self.channel, self.json.dumps(data))

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        if self.ledger is not None:
            screened = self.ledger.screen(message)
            if screened is None:
                return
            message = screened
        await super()._handle_emit(message)


class Bus(Protocol):
    process_id: str

    async def start(self, handler: Handler) -> None: ...

    async def publish(self, notice: Notice) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """One process: a notice is applied at once."""

    def __init__(self) -> None:
        self.process_id = uuid.uuid4().hex
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, notice: Notice) -> None:
        if self._handler is not None:
            await self._handler(notice)

    async def close(self) -> None:
        self._handler = None


class RedisBus:
    """Several processes: notices go through a Redis pub/sub channel to every process. A notice
    published while the link is down is dropped: each process re-reads its state from the
    database when the link comes back (the hub's ``resynchronise``)."""

    def __init__(self, link: RedisLink) -> None:
        self.process_id = uuid.uuid4().hex
        self.link = link
        self._handler: Handler | None = None
        link.receive(CHANNEL, self._receive)

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        await self.link.start()

    async def _receive(self, data: bytes) -> None:
        if self._handler is None:
            return
        try:
            await self._handler(json.loads(data))
        except Exception:
            log.exception("cluster notice failed")

    async def publish(self, notice: Notice) -> None:
        await self.link.publish(CHANNEL, json.dumps(notice))

    async def close(self) -> None:
        await self.link.close()


def make_bus(link: RedisLink | None) -> Bus:
    return RedisBus(link) if link is not None else LocalBus()
