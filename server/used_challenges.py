"""A connect proof is good for one connection: each challenge is claimed once, until it expires.

Challenges are stateless (crypto/challenge.py: the server's HMAC and an expiry), so without
this set whoever saw a proof (a log, a proxy, a shoulder) could open more connections as that
account with it until the challenge expires. The first connection that presents a verified
proof claims its challenge; any other answers ``challenge_used``.

* One process: a set in memory, each entry dropped once its challenge has expired (at the next
  claim, or the server's sweep every challenge lifetime; so it holds at most the challenges
  claimed in about two challenge lifetimes), and never more than
  ``[limits] max_used_challenges`` entries: past that, connections are refused with
  ``rate_limited`` rather than forgetting a claim that could then be replayed.
* Several processes (``[scale] redis_url``): also ``SET NX`` with the challenge's remaining
  lifetime in Redis, so a proof used on one process is refused on every other. Each process
  keeps its own set too. If Redis cannot be reached (or does not answer within a second), the
  claim falls back to this process's set: a proof still opens only one connection per process,
  and a warning is logged while Redis is away; a replay on another process during the outage is
  possible only within the challenge's 60 s lifetime, and only gives an account connection
  (ciphertext of that account's groups, no member keys).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from typing import Protocol

import redis.exceptions

from server.errors import Code, HearthError
from server.redislink import redis_client

log = logging.getLogger("hearth.challenges")
REDIS_TIMEOUT_S = 1.0
_SIGNED = 24  # u64(expiry_ms) ‖ random(16): unique per issued challenge (crypto/challenge.py)


class UsedChallenges(Protocol):
    async def claim(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        """True for the first claim of a verified challenge, False for any later one."""
        ...

    def forget_expired(self, now_ms: int) -> None:
        """Drop this process's claims of challenges expired by ``now_ms``."""
        ...

    async def close(self) -> None: ...


class LocalUsedChallenges:
    """Claims in this process's memory, each until its challenge expires."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._claimed: set[bytes] = set()
        self._by_expiry: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self._claimed)

    def forget_expired(self, now_ms: int) -> None:
        """Drop the claims of expired challenges: each claim does it too, and the server does
        it every challenge lifetime (server/app.py), so that the claims of a wave of connections
        do not stay in memory until the next one connects."""
        while self._by_expiry and self._by_expiry[0][0] <= now_ms:
            self._claimed.discard(heapq.heappop(self._by_expiry)[1])

    def claim_here(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        self.forget_expired(now_ms)
        key = challenge[:_SIGNED]
        if key in self._claimed:
            return False
        if len(self._claimed) >= self._max:
            log.warning(
                "refusing connections: %d challenges claimed within their lifetime", self._max
            )
            raise HearthError(
                Code.RATE_LIMITED, "too many connections at the moment; try again shortly"
            )
        self._claimed.add(key)
        heapq.heappush(self._by_expiry, (expiry_ms, key))
        return True

    async def claim(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        return self.claim_here(challenge, expiry_ms, now_ms)

    async def close(self) -> None:
        return None


class RedisUsedChallenges:
    """Claims shared by every process through Redis, with this process's set as a fallback."""

    def __init__(self, url: str, local: LocalUsedChallenges) -> None:
        self._redis = redis_client(url)
        self._local = local
        self._redis_down = False

    async def claim(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        if not self._local.claim_here(challenge, expiry_ms, now_ms):
            return False
        key = "hearth:challenge:" + challenge[:_SIGNED].hex()
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                first = await self._redis.set(key, b"1", nx=True, px=max(1, expiry_ms - now_ms))
        except (redis.exceptions.RedisError, OSError, TimeoutError):
            if not self._redis_down:
                self._redis_down = True
                log.warning("Redis unreachable: connect proofs are checked by this process only")
            return True
        if self._redis_down:
            self._redis_down = False
            log.warning("Redis reachable again: connect proofs are checked by every process")
        return bool(first)

    def forget_expired(self, now_ms: int) -> None:
        self._local.forget_expired(now_ms)  # Redis expires its keys itself

    async def close(self) -> None:
        await self._redis.aclose()
