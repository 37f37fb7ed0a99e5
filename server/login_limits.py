"""How many facilitator logins are tried, by whom: limits that stop guessing without letting
anyone else lock the real facilitator out.

Three budgets, each a token bucket refilled evenly over a minute, all checked before any
password is hashed:

* ``source + username`` and ``source`` (``login_attempts_per_minute``): one address guessing
  one account, or spraying many usernames. Failures from elsewhere never touch the real
  facilitator's own budget, which is keyed on their own source.
* ``username`` (``login_attempts_per_username_per_minute``, higher): every source together, so
  that guessing spread over many addresses is still bounded. An attacker with enough addresses
  could empty it; so it is not applied to a source that has logged in as that username before
  (remembered by this process, in memory): the real facilitator, at their usual place, still
  gets in while the attack goes on, and a new place waits at most a minute's refill.

A source is only ever a keyed BLAKE2b of the address under a key that lives in this process's
memory: never stored, never logged, unlinkable across restarts.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from server.storage.facilitators import normalise_username

KNOWN_SOURCES_MAX = 10_000


class AttemptLimiter:
    """One token bucket per key, ``per_minute`` deep, refilled evenly over a minute.

    Bounded to ``max_keys`` buckets (least recently used dropped first) so that a spray of
    usernames cannot grow memory without limit.
    """

    def __init__(self, per_minute: int, max_keys: int = 50_000) -> None:
        self._capacity = float(per_minute)
        self._per_ms = per_minute / 60_000
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, int]] = {}

    def acquire(self, keys: Iterable[str], now_ms: int) -> int:
        """0 and one attempt taken from every key's bucket, or the ms until one is free."""
        keys = list(keys)
        wait = self.wait(keys, now_ms)
        if wait:
            return wait
        self.take(keys, now_ms)
        return 0

    def wait(self, keys: Iterable[str], now_ms: int) -> int:
        """The ms until every key's bucket has an attempt (0: now); takes nothing."""
        levels = [self._level(key, now_ms) for key in keys]
        return max(
            (math.ceil((1 - level) / self._per_ms) for level in levels if level < 1), default=0
        )

    def take(self, keys: Iterable[str], now_ms: int) -> None:
        keys = list(keys)
        levels = [self._level(key, now_ms) for key in keys]
        for key, level in zip(keys, levels, strict=True):
            self._buckets.pop(key, None)
            self._buckets[key] = (level - 1, now_ms)  # re-inserted: dict order is LRU order
        while len(self._buckets) > self._max_keys:
            del self._buckets[next(iter(self._buckets))]

    def _level(self, key: str, now_ms: int) -> float:
        tokens, at = self._buckets.get(key, (self._capacity, now_ms))
        return min(self._capacity, tokens + max(0, now_ms - at) * self._per_ms)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """One attempt's keys and verdict: ``wait_ms`` 0 if it may go on to the password check."""

    wait_ms: int
    known: str = field(repr=False)  # keyed hash of (username, source)


class LoginLimiter:
    def __init__(self, per_source_per_minute: int, per_username_per_minute: int) -> None:
        self._by_source = AttemptLimiter(per_source_per_minute)
        self._by_username = AttemptLimiter(per_username_per_minute)
        self._key = secrets.token_bytes(32)  # per process: hashes are unlinkable elsewhere
        # (username, source) pairs that logged in, least recently used first
        self._known: dict[str, None] = {}

    def attempt(self, username: str, address: str, now_ms: int) -> LoginAttempt:
        """Take one attempt from every budget that applies, or none and say how long to wait."""
        try:
            name = normalise_username(username)
        except ValueError:
            name = username[:64].casefold()
        source = self._hash(b"source", address)
        known = self._hash(b"known", name, address)
        source_keys = [f"pair:{name}:{source}", f"source:{source}"]
        username_keys = [] if known in self._known else [f"user:{name}"]
        wait = max(
            self._by_source.wait(source_keys, now_ms),
            self._by_username.wait(username_keys, now_ms),
        )
        if not wait:
            self._by_source.take(source_keys, now_ms)
            self._by_username.take(username_keys, now_ms)
        return LoginAttempt(wait, known)

    def logged_in(self, attempt: LoginAttempt) -> None:
        """Remember that this source knows this username's password."""
        self._known.pop(attempt.known, None)
        self._known[attempt.known] = None
        while len(self._known) > KNOWN_SOURCES_MAX:
            del self._known[next(iter(self._known))]

    def _hash(self, label: bytes, *parts: str) -> str:
        data = label + b"\0" + b"\0".join(part.encode() for part in parts)
        return hashlib.blake2b(data, key=self._key, digest_size=16).hexdigest()
