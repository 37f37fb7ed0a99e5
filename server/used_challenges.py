"""A connect proof is good for one connection: each challenge is claimed once, until it expires.

Challenges are stateless (crypto/challenge.py: the server's HMAC and an expiry), so without
this set whoever saw a proof (a log, a proxy, a shoulder) could open more connections as that
account with it until the challenge expires. The first connection that presents a verified
proof claims its challenge; any other answers ``challenge_used``.

* One process: a table in memory, each entry dropped once its challenge has expired (when the
  table fills up, or at the server's sweep every challenge lifetime; so it holds at most the
  challenges claimed in about two challenge lifetimes), and never more than
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
import logging
from typing import Protocol

import redis.exceptions

from server.errors import Code, HearthError
from server.redislink import redis_client

log = logging.getLogger("hearth.challenges")
REDIS_TIMEOUT_S = 1.0
_SIGNED = 24  # u64(expiry_ms) ‖ random(16): unique per issued challenge (crypto/challenge.py)
_SLOT = 8 + _SIGNED  # a claim: u64 expiry (little-endian; 0 marks an empty slot) ‖ the signed part
_EMPTY = bytes(8)
_MIN_SLOTS = 64  # 2 KiB: more than pymalloc's 512 bytes, so the table is always on the C heap
_NEVER = 2**64
_REBUILD_GAP_MS = 1000


class UsedChallenges(Protocol):
    async def claim(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        """True for the first claim of a verified challenge, False for any later one."""
        ...

    def forget_expired(self, now_ms: int) -> None:
        """Drop this process's claims of challenges expired by ``now_ms``."""
        ...

    async def close(self) -> None: ...


class LocalUsedChallenges:
    """Claims in this process's memory, each until its challenge expires.

    The claims sit in one open-addressing hash table in a ``bytearray``, ``_SLOT`` bytes a claim
    (its expiry, then the challenge's signed part), rather than in a set of ``bytes`` with a heap
    of ``(expiry, key)`` tuples: those were three small objects per connection, made among the
    connection's own objects and outliving them by up to two challenge lifetimes, so that each
    kept the 1 MiB pymalloc arena it sat in from going back to the system once a wave of
    connections had closed (docs/benchmarks.md, "Memory after connections close"). The table's
    storage is one block of the C heap, which the heap trim (server/heaptrim.py) can give back;
    the object holding it is made at start-up and resized in place.

    A table more than two-thirds full is rebuilt without its expired claims, at least twice as
    large as what is left (so rebuilds cost O(1) a claim over time); so is a full one (``max``
    claims) if one of them has expired, at most once a second (a flood at the bound costs a
    refusal, not a rebuild, per attempt).
    """

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._slots = bytearray(_MIN_SLOTS * _SLOT)
        self._capacity = _MIN_SLOTS  # a power of two
        self._filled = 0  # claims in the table, expired ones not yet swept out included
        self._next_expiry = _NEVER  # the earliest expiry among them
        self._rebuilt_at = -_REBUILD_GAP_MS

    def __len__(self) -> int:
        return self._filled

    def forget_expired(self, now_ms: int) -> None:
        """Drop the claims of expired challenges: the server does it every challenge lifetime
        (server/app.py), so that the claims of a wave of connections do not stay in memory until
        the next one connects; claims do it when the table fills up."""
        slots = self._slots
        live = [
            bytes(slots[offset : offset + _SLOT])
            for offset in range(0, len(slots), _SLOT)
            if int.from_bytes(slots[offset : offset + 8], "little") > now_ms
        ]
        capacity = _MIN_SLOTS
        while capacity < 2 * (len(live) + 1):
            capacity *= 2
        table = bytearray(capacity * _SLOT)
        for record in live:
            offset = _free_slot(table, capacity, record[8:])
            table[offset : offset + _SLOT] = record
        self._slots[:] = table  # in place: the same object, its storage reallocated
        self._capacity = capacity
        self._filled = len(live)
        self._next_expiry = min(
            (int.from_bytes(record[:8], "little") for record in live), default=_NEVER
        )
        self._rebuilt_at = now_ms

    def claim_here(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        if expiry_ms <= now_ms:
            return False  # never asked (check_challenge refuses it first): it opens nothing
        key = challenge[:_SIGNED]
        slots = self._slots
        mask = self._capacity - 1
        index = hash(key) & mask
        while not slots.startswith(_EMPTY, index * _SLOT):
            offset = index * _SLOT
            if slots.startswith(key, offset + 8):
                if int.from_bytes(slots[offset : offset + 8], "little") > now_ms:
                    return False
                slots[offset : offset + 8] = expiry_ms.to_bytes(8, "little")  # an expired claim
                self._next_expiry = min(self._next_expiry, expiry_ms)
                return True
            index = (index + 1) & mask
        if (
            self._filled >= self._max
            and self._next_expiry <= now_ms
            and now_ms - self._rebuilt_at >= _REBUILD_GAP_MS
        ):
            self.forget_expired(now_ms)
        if self._filled >= self._max:
            log.warning(
                "refusing connections: %d challenges claimed within their lifetime", self._max
            )
            raise HearthError(
                Code.RATE_LIMITED, "too many connections at the moment; try again shortly"
            )
        if 3 * (self._filled + 1) > 2 * self._capacity:
            self.forget_expired(now_ms)
        offset = _free_slot(self._slots, self._capacity, key)
        self._slots[offset : offset + _SLOT] = expiry_ms.to_bytes(8, "little") + key
        self._filled += 1
        self._next_expiry = min(self._next_expiry, expiry_ms)
        return True

    async def claim(self, challenge: bytes, expiry_ms: int, now_ms: int) -> bool:
        return self.claim_here(challenge, expiry_ms, now_ms)

    async def close(self) -> None:
        return None


def _free_slot(slots: bytearray, capacity: int, key: bytes) -> int:
    """The offset of the first empty slot on ``key``'s probe sequence (linear probing)."""
    mask = capacity - 1
    index = hash(key) & mask
    while not slots.startswith(_EMPTY, index * _SLOT):
        index = (index + 1) & mask
    return index * _SLOT


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
