"""A process's link to Redis: one subscription for every channel, which comes back by itself.

Redis carries two channels between Hearth processes: the cluster bus (``server/cluster.py``)
and python-socketio's room broadcasts. Both are read from ONE subscribed connection, so that a
notice and the broadcasts published after it arrive in that order, and so that an outage is one
event: the link is lost (logged once), it reconnects with a short backoff for as long as it
takes, subscribes again to every channel, and is back (logged once) only after the process has
re-read what it may have missed (``on_restored``), before any message that arrived meanwhile is
handled. A publish that fails (Redis down, or stalled past the command timeout) is dropped and
counts as a loss too: the link reconnects and every process resynchronises (server/cluster.py).
A stalled Redis (stopped, or its host frozen) breaks no connection, so each link also hears its
own heartbeat through Redis: one not heard for :data:`LEASE_S` makes :attr:`RedisLink.alive`
false, and the hub stops trusting its cache until it is heard again.

Nothing about the URL (it may hold a password) or the error's text is logged, only its type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("hearth.redis")
Receiver = Callable[[bytes], Awaitable[None]]
# Seconds a command may take before Redis counts as unreachable (a stopped Redis answers nothing).
COMMAND_TIMEOUT_S = 2.0
RETRY_MIN_S = 0.1
RETRY_MAX_S = 1.0
POLL_S = 1.0  # how often the reader looks up from an idle subscription (to notice a failed publish)
# Each process hears its own heartbeat through Redis every HEARTBEAT_S; without one for LEASE_S
# it no longer trusts what it has cached (a stalled Redis breaks no connection: nothing else
# would tell it that notices have stopped arriving).
HEARTBEAT_CHANNEL = "hearth-link"
HEARTBEAT_S = 0.25
LEASE_S = 1.0
# Connections to Redis per client object. A busy process has hundreds of events in flight, each
# wanting Redis at once: redis-py's default pool raises past 100 connections, this one waits.
POOL_SIZE = 32
POOL_WAIT_S = 30


def redis_client(url: str) -> redis.Redis:
    """A client whose pool makes callers wait for a free connection instead of failing, and
    whose commands fail after :data:`COMMAND_TIMEOUT_S` instead of hanging on a stalled Redis."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        socket_connect_timeout=COMMAND_TIMEOUT_S,
        # A pooled connection to a Redis that has restarted fails once: try a fresh one.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )
    return redis.Redis.from_pool(pool)


class RedisLink:
    def __init__(self, url: str) -> None:
        self._url = url
        self._publisher = redis_client(url)
        self._receivers: dict[str, Receiver] = {}
        self._on_lost: list[Callable[[], None]] = []
        self._on_restored: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._id = uuid.uuid4().hex.encode()
        self._heard = 0.0  # time.monotonic() this link last heard itself through Redis
        self._first = asyncio.Event()
        self._broken = False  # a publish failed: the reader reconnects
        self.up = False  # subscribed to every channel (on_restored may still be running)
        self._lost_logged = False

    def receive(self, channel: str, receiver: Receiver) -> None:
        """Hand each message of ``channel`` to ``receiver`` (register before :meth:`start`)."""
        self._receivers[channel] = receiver

    def watch(
        self, on_lost: Callable[[], None], on_restored: Callable[[], Awaitable[None]]
    ) -> None:
        """``on_lost`` runs when the link goes down; ``on_restored`` once it is subscribed again
        (and at the first subscription), before any message received since is handed on."""
        self._on_lost.append(on_lost)
        self._on_restored.append(on_restored)

    async def start(self, wait_s: float = 3.0) -> None:
        """Start reading; wait up to ``wait_s`` for the first subscription. A process whose
        Redis is not there yet starts anyway, as after an outage, and links up when it comes."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hearth-redis-link")
            self._beat = asyncio.create_task(self._heartbeat(), name="hearth-redis-heartbeat")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first.wait(), wait_s)

    async def publish(self, channel: str, data: str | bytes) -> bool:
        """Publish, or drop and count the link as lost; never raises for Redis' sake."""
        if not self.up:
            return False
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):  # no task per call, unlike wait_for
                await self._publisher.publish(channel, data)
        except (redis.RedisError, OSError, TimeoutError) as error:
            self._lost(error)
            self._broken = True
            return False
        return True

    @property
    def alive(self) -> bool:
        """Up, and this process heard itself through Redis less than LEASE_S ago: every notice
        published before then has reached it."""
        return self.up and time.monotonic() - self._heard < LEASE_S

    async def close(self) -> None:
        for task in (self._beat, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._beat = None
        await self._publisher.aclose()

    def _lost(self, error: BaseException) -> None:
        was_up, self.up = self.up, False
        if not self._lost_logged:
            self._lost_logged = True
            log.warning(
                "lost the connection to Redis (%s): serving this process's clients alone, "
                "re-reading group membership from the database before each delivery; "
                "reconnecting",
                type(error).__name__,
            )
        if was_up:
            for callback in self._on_lost:
                callback()

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while True:
            subscriber = redis.Redis.from_url(
                self._url, socket_connect_timeout=COMMAND_TIMEOUT_S, socket_keepalive=True
            )
            pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await asyncio.wait_for(
                    pubsub.subscribe(*self._receivers, HEARTBEAT_CHANNEL), COMMAND_TIMEOUT_S
                )
                self._broken = False
                self._heard = time.monotonic()
                self.up = True
                for restored in self._on_restored:
                    await restored()
                if self._lost_logged:
                    self._lost_logged = False
                    log.warning("reconnected to Redis; resynchronised from the database")
                self._first.set()
                delay = RETRY_MIN_S
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # every failure of the link is an outage to ride out
                self._lost(error)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await subscriber.aclose()
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    async def _read(self, pubsub: redis.client.PubSub) -> None:
        while not self._broken:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            if channel == HEARTBEAT_CHANNEL:
                if message["data"] == self._id:
                    self._heard = time.monotonic()
                continue
            receiver = self._receivers.get(channel)
            if receiver is not None:
                await receiver(message["data"])
        raise ConnectionError("a publish failed")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self.publish(HEARTBEAT_CHANNEL, self._id)  # waits: one beat at a time
