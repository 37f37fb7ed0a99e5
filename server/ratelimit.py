"""Token buckets for what one account or one connection may do (messages, joins, reports).

Connection buckets live in this process; account buckets too, or in Redis when several processes
share the load ([scale] redis_url). A refusal says how long to wait; a
connection that keeps pushing after being refused is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError

from server.config import LimitsConfig
from server.errors import Code, HearthError
from server.redislink import COMMAND_TIMEOUT_S, redis_client

log = logging.getLogger("hearth.limits")
Clock = Callable[[], int]
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


@dataclass(slots=True)
class TokenBucket:
    rate_per_ms: float
    burst: float
    tokens: float
    updated: int

    def take(self, now: int) -> int:
        """Take one token; returns 0, or the milliseconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_ms)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return int((1 - self.tokens) / self.rate_per_ms) + 1


@dataclass(frozen=True, slots=True)
class Rule:
    what: str
    per_ms: float
    burst: int

    def bucket(self, now: int) -> TokenBucket:
        return TokenBucket(self.per_ms, self.burst, self.burst, now)


class AccountBuckets(Protocol):
    async def take(self, rule: Rule, account: bytes, now: int) -> int: ...


class LocalAccountBuckets:
    """Per-account buckets in this process's memory (one process)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, bytes], TokenBucket] = {}

    async def take(self, rule: Rule, account: bytes, now: int) -> int:
        bucket = self._buckets.get((rule.what, account))
        if bucket is None:
            bucket = self._buckets[(rule.what, account)] = rule.bucket(now)
        return bucket.take(now)


# The same token bucket as TokenBucket.take, atomic in Redis, so that an account whose
# connections land on different processes still has one budget.
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.floor((1 - tokens) / rate) + 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
"""


class RedisAccountBuckets:
    """Per-account buckets shared by every process (``[scale] redis_url``).

    Without Redis (down, or stalled past the command timeout) each process falls back to its own
    buckets, so that it keeps accepting messages; the outage is logged once, the return once.
    While Redis is down no caller waits for it: one background probe tries it every
    :attr:`PROBE_S`. An account gets a budget per process, not one in all, for that time.
    """

    PROBE_S = 1.0

    def __init__(self, url: str) -> None:
        self._redis = redis_client(url)
        self._take = self._redis.register_script(_TAKE)
        self._local = LocalAccountBuckets()
        self._probe: asyncio.Task[None] | None = None  # runs while Redis is down

    async def take(self, rule: Rule, account: bytes, now: int) -> int:
        if self._probe is not None:
            return await self._local.take(rule, account, now)
        key = f"hearth:limit:{rule.what}:{account.hex()}"
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):  # no task per call, unlike wait_for
                return int(await self._take(keys=[key], args=[repr(rule.per_ms), rule.burst, now]))
        except (RedisError, OSError, TimeoutError) as error:
            if self._probe is None:
                log.warning(
                    "rate limits: Redis is unreachable (%s); counting in this process alone "
                    "until it is back",
                    type(error).__name__,
                )
                self._probe = asyncio.create_task(self._until_back(), name="hearth-limits-probe")
            return await self._local.take(rule, account, now)

    async def _until_back(self) -> None:
        while True:
            await asyncio.sleep(self.PROBE_S)
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT_S):
                    await self._redis.ping()
            except (RedisError, OSError, TimeoutError):
                continue
            log.warning("rate limits: Redis is back; counting across processes again")
            self._probe = None
            return

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._redis.aclose()


class Limits:
    """Per-account and per-connection limits from ``[limits]``."""

    # A connection refused this many times in a row is treated as a flood and cut off.
    FLOOD_REFUSALS = 20

    def __init__(
        self, config: LimitsConfig, clock: Clock, accounts: AccountBuckets | None = None
    ) -> None:
        self.clock = clock
        self._accounts = accounts or LocalAccountBuckets()
        self.messages = Rule("messages", config.messages_per_second / 1000, config.message_burst)
        self.joins = Rule("joins", config.joins_per_minute / MINUTE_MS, config.joins_per_minute)
        self.reports = Rule("reports", config.reports_per_hour / HOUR_MS, config.reports_per_hour)
        self._connections: dict[str, dict[str, TokenBucket]] = {}
        self._refusals: dict[str, int] = {}

    async def check(self, rule: Rule, account: bytes, connection: str) -> None:
        """Take a token from the account's and the connection's bucket, or refuse."""
        now = self.clock()
        own = self._connections.setdefault(connection, {})
        by_connection = own.get(rule.what)
        if by_connection is None:
            by_connection = own[rule.what] = rule.bucket(now)
        wait = max(by_connection.take(now), await self._accounts.take(rule, account, now))
        if wait:
            self._refusals[connection] = self._refusals.get(connection, 0) + 1
            raise HearthError(
                Code.RATE_LIMITED,
                f"too many {rule.what}; try again in {max(1, round(wait / 1000))} s",
                retry_after_ms=wait,
            )
        self._refusals.pop(connection, None)

    def flooding(self, connection: str) -> bool:
        return self._refusals.get(connection, 0) >= self.FLOOD_REFUSALS

    def forget_connection(self, connection: str) -> None:
        self._refusals.pop(connection, None)
        self._connections.pop(connection, None)
