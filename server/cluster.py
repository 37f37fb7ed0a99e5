"""What several Hearth processes sharing one database tell each other.

Room broadcasts between processes are python-socketio's job (``AsyncRedisManager``). What it
does not carry is the relay's own in-memory state: the cached view of each group, which local
sockets sit in which group room, and which groups have a facilitator online. Every change to
those is published as a small JSON notice on a bus; each process, the sender included, applies
it to itself. With one process the bus is a direct call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as redis
import socketio

from server.realtime.fanout import DirectManager

log = logging.getLogger("hearth.cluster")
Notice = dict[str, Any]
Handler = Callable[[Notice], Awaitable[None]]
CHANNEL = "hearth-cluster"
# Connections to Redis per client object. A busy process has hundreds of events in flight, each
# wanting Redis at once: redis-py's default pool raises past 100 connections, this one waits.
POOL_SIZE = 32
POOL_WAIT_S = 30


def redis_client(url: str) -> redis.Redis:
    """A client whose pool makes callers wait for a free connection instead of failing."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=POOL_WAIT_S
    )
    return redis.Redis.from_pool(pool)


class RedisManager(socketio.AsyncRedisManager, DirectManager):  # type: ignore[misc]
    """python-socketio's Redis manager on a waiting pool: when publishing fails twice it logs
    and drops the broadcast, so a burst must never fail for want of a connection. What it
    receives is fanned out by :class:`DirectManager` (one frame for every local recipient)."""

    def _redis_connect(self) -> None:
        self.redis = redis_client(self.redis_url)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True


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
    """Several processes: notices go through a Redis pub/sub channel to every process."""

    def __init__(self, url: str) -> None:
        self.process_id = uuid.uuid4().hex
        self._redis = redis_client(url)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, handler: Handler) -> None:
        self._task = asyncio.create_task(self._listen(handler), name="hearth-cluster-bus")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self, handler: Handler) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(CHANNEL)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    await handler(json.loads(message["data"]))
                except Exception:
                    log.exception("cluster notice failed")
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, notice: Notice) -> None:
        await self._redis.publish(CHANNEL, json.dumps(notice))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()


def make_bus(redis_url: str) -> Bus:
    return RedisBus(redis_url) if redis_url else LocalBus()
