"""Token buckets for what one account or one connection may do (messages, joins, reports).

Buckets live in memory: they protect this process. A refusal says how long to wait; a
connection that keeps pushing after being refused is disconnected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.config import LimitsConfig
from server.errors import Code, HearthError

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


class Limits:
    """Per-account and per-connection limits from ``[limits]``."""

    # A connection refused this many times in a row is treated as a flood and cut off.
    FLOOD_REFUSALS = 20

    def __init__(self, config: LimitsConfig, clock: Clock) -> None:
        self.clock = clock
        self.messages = Rule("messages", config.messages_per_second / 1000, config.message_burst)
        self.joins = Rule("joins", config.joins_per_minute / MINUTE_MS, config.joins_per_minute)
        self.reports = Rule("reports", config.reports_per_hour / HOUR_MS, config.reports_per_hour)
        self._accounts: dict[tuple[str, bytes], TokenBucket] = {}
        self._connections: dict[str, dict[str, TokenBucket]] = {}
        self._refusals: dict[str, int] = {}

    def check(self, rule: Rule, account: bytes, connection: str) -> None:
        """Take a token from the account's and the connection's bucket, or refuse."""
        now = self.clock()
        by_account = self._accounts.get((rule.what, account))
        if by_account is None:
            by_account = self._accounts[(rule.what, account)] = rule.bucket(now)
        own = self._connections.setdefault(connection, {})
        by_connection = own.get(rule.what)
        if by_connection is None:
            by_connection = own[rule.what] = rule.bucket(now)
        wait = max(by_account.take(now), by_connection.take(now))
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
