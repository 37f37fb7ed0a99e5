"""Where the device link relay keeps its links (docs/protocol.md §15.3).

A link is a slot under its rendezvous id: the socket that opened it, that socket's PAKE share,
the socket that joined it (once) and how many messages it has carried. The relay's events ask
the slots one atomic question each and learn which socket to forward to.

* One process: a dict in this process's memory (:class:`LocalLinkSlots`).
* Several processes (``[scale] redis_url``): a Redis hash per link, ``hearth:link:<id hex>``,
  made only if absent and expiring with the link (``PEXPIRE``), read and changed by one Lua
  script per event, so that two processes cannot both open one id, one join is kept across
  every process and the message count is one count (:class:`RedisLinkSlots`). Forwarding to a
  socket on another process is python-socketio's pub/sub manager's job (server/cluster.py).
  When Redis cannot be reached, or the process's link to it is down (an emit to the other
  process would be dropped), every link event answers ``unavailable`` and nothing changes.

Either way each process also remembers, per socket of its own, the links that socket is party
to, so that a socket that goes away ends them (the other device hears ``link.closed``), and
bounds the links its own sockets have open (MAX_OPEN_LINKS per process).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Final, Protocol

import redis.exceptions

from server.errors import Code, HearthError
from server.redislink import COMMAND_TIMEOUT_S, RedisLink, redis_client

log = logging.getLogger("hearth.devicelinks")

MAX_OPEN_LINKS: Final = 1000  # per process
MAX_CHUNKS: Final = 128  # 128 × 32 KiB: a bundle of 4 MiB
REDIS_RETRY_AFTER_MS: Final = 2000
KEY_PREFIX: Final = "hearth:link:"

_REFUSALS: Final = {
    "not_found": (Code.NOT_FOUND, "no such device link (it may have expired)"),
    "no_one_shows": (Code.NOT_FOUND, "no device is showing this code (it may have expired)"),
    "taken": (Code.LINK_TAKEN, "this code is in use; show a new code"),
    "used": (Code.LINK_USED, "this code was already used; show a new code"),
    "waiting": (Code.BAD_REQUEST, "no device has joined this link yet"),
    "full": (Code.TOO_LARGE, f"a device link carries at most {MAX_CHUNKS} chunks"),
    "busy": (Code.UNAVAILABLE, "too many devices are linking now; try again soon"),
}


def refused(why: str) -> HearthError:
    code, message = _REFUSALS[why]
    return HearthError(code, message)


class LinkSlots(Protocol):
    async def open(self, link_id: bytes, sid: str, share: str, ttl_ms: int, now_ms: int) -> None:
        """Open a link for ``sid``, or raise ``link_taken`` / ``unavailable``."""
        ...

    async def join(self, link_id: bytes, sid: str, now_ms: int) -> tuple[str, str]:
        """Join as the one other device: (the opener's sid, the opener's share)."""
        ...

    async def relay(self, link_id: bytes, sid: str, now_ms: int) -> str:
        """Count one message from ``sid`` on the link: the sid of the other end."""
        ...

    async def close(self, link_id: bytes, sid: str, now_ms: int) -> str | None:
        """End the link: the sid of the other end, if one joined."""
        ...

    async def forget(self, sid: str, now_ms: int) -> list[tuple[bytes, str]]:
        """``sid`` went away: end its links, and say whom to tell (link id, other sid)."""
        ...

    async def close_store(self) -> None: ...


@dataclass(slots=True)
class Link:
    opener: str  # the old device's sid
    share: str  # its PAKE share, relayed as sent
    expires_ms: int
    joiner: str | None = None
    chunks: int = 0

    def peer_of(self, sid: str) -> str | None:
        return self.joiner if sid == self.opener else self.opener


class LocalLinkSlots:
    """Links in this process's memory: both devices must reach this process."""

    def __init__(self) -> None:
        self.links: dict[bytes, Link] = {}

    def _sweep(self, now_ms: int) -> None:
        for link_id in [i for i, link in self.links.items() if link.expires_ms <= now_ms]:
            del self.links[link_id]

    def _live(self, link_id: bytes, now_ms: int) -> Link | None:
        link = self.links.get(link_id)
        if link is not None and link.expires_ms <= now_ms:
            del self.links[link_id]
            return None
        return link

    def _party(self, link_id: bytes, sid: str, now_ms: int) -> Link:
        link = self._live(link_id, now_ms)
        if link is None or sid not in (link.opener, link.joiner):
            raise refused("not_found")
        return link

    async def open(self, link_id: bytes, sid: str, share: str, ttl_ms: int, now_ms: int) -> None:
        self._sweep(now_ms)
        if link_id in self.links:
            raise refused("taken")
        if len(self.links) >= MAX_OPEN_LINKS:
            raise refused("busy")
        self.links[link_id] = Link(opener=sid, share=share, expires_ms=now_ms + ttl_ms)

    async def join(self, link_id: bytes, sid: str, now_ms: int) -> tuple[str, str]:
        link = self._live(link_id, now_ms)
        if link is None or link.opener == sid:
            raise refused("no_one_shows")
        if link.joiner is not None:
            raise refused("used")
        link.joiner = sid
        return link.opener, link.share

    async def relay(self, link_id: bytes, sid: str, now_ms: int) -> str:
        link = self._party(link_id, sid, now_ms)
        if link.joiner is None:
            raise refused("waiting")
        if link.chunks >= MAX_CHUNKS:
            raise refused("full")
        link.chunks += 1
        peer = link.peer_of(sid)
        assert peer is not None
        return peer

    async def close(self, link_id: bytes, sid: str, now_ms: int) -> str | None:
        link = self._party(link_id, sid, now_ms)
        del self.links[link_id]
        return link.peer_of(sid)

    async def forget(self, sid: str, now_ms: int) -> list[tuple[bytes, str]]:
        told: list[tuple[bytes, str]] = []
        for link_id, link in [
            (i, link) for i, link in self.links.items() if sid in (link.opener, link.joiner)
        ]:
            del self.links[link_id]
            peer = link.peer_of(sid)
            if peer is not None:
                told.append((link_id, peer))
        return told

    async def close_store(self) -> None:
        return None


# Each script answers {verdict, ...}; a missing hash field reads as false in Lua.
_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'o', ARGV[1], 's', ARGV[2], 'c', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
_JOIN = """
local l = redis.call('HMGET', KEYS[1], 'o', 's', 'j')
if not l[1] or l[1] == ARGV[1] then return {'none'} end
if l[3] then return {'used'} end
redis.call('HSET', KEYS[1], 'j', ARGV[1])
return {'ok', l[1], l[2], tostring(redis.call('PTTL', KEYS[1]))}
"""
_RELAY = """
local l = redis.call('HMGET', KEYS[1], 'o', 'j', 'c')
if not l[1] or (l[1] ~= ARGV[1] and l[2] ~= ARGV[1]) then return {'none'} end
if not l[2] then return {'waiting'} end
if tonumber(l[3]) >= tonumber(ARGV[2]) then return {'full'} end
redis.call('HINCRBY', KEYS[1], 'c', 1)
if l[1] == ARGV[1] then return {'ok', l[2]} end
return {'ok', l[1]}
"""
_CLOSE = """
local l = redis.call('HMGET', KEYS[1], 'o', 'j')
if not l[1] or (l[1] ~= ARGV[1] and l[2] ~= ARGV[1]) then return {'none'} end
redis.call('DEL', KEYS[1])
if l[1] == ARGV[1] then return {'ok', l[2] or ''} end
return {'ok', l[1]}
"""


@dataclass(slots=True)
class _Parties:
    """This process's sockets and the links each is party to (id → when it expires)."""

    by_sid: dict[str, dict[bytes, int]] = field(default_factory=dict)
    opened: dict[bytes, int] = field(default_factory=dict)  # opened here, not yet expired

    def add(self, sid: str, link_id: bytes, expires_ms: int) -> None:
        self.by_sid.setdefault(sid, {})[link_id] = expires_ms

    def drop(self, sid: str, link_id: bytes) -> None:
        links = self.by_sid.get(sid)
        if links is not None:
            links.pop(link_id, None)
            if not links:
                del self.by_sid[sid]
        self.opened.pop(link_id, None)

    def open_count(self, now_ms: int) -> int:
        for link_id in [i for i, until in self.opened.items() if until <= now_ms]:
            del self.opened[link_id]
        return len(self.opened)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLinkSlots:
    """Links shared by every process through Redis (see the module's docstring)."""

    def __init__(self, url: str, link: RedisLink) -> None:
        self._redis = redis_client(url)
        self._link = link
        self._scripts = {
            name: self._redis.register_script(source)
            for name, source in (
                ("open", _OPEN),
                ("join", _JOIN),
                ("relay", _RELAY),
                ("close", _CLOSE),
            )
        }
        self._parties = _Parties()
        self._down_logged = False

    async def _run(self, script: str, link_id: bytes, *args: str | int) -> list[str] | int:
        if not self._link.up:  # what would be forwarded to the other process would be lost
            raise self._unavailable(ConnectionError("the link to Redis is down"))
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                answer = await self._scripts[script](keys=[KEY_PREFIX + link_id.hex()], args=args)
        except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
            raise self._unavailable(error) from None
        if self._down_logged:
            self._down_logged = False
            log.warning("device links: Redis is reachable again")
        if isinstance(answer, list):
            return [_text(part) for part in answer]
        return int(answer)

    def _unavailable(self, error: BaseException) -> HearthError:
        if not self._down_logged:
            self._down_logged = True
            log.warning(
                "device links: Redis is unreachable (%s); link events answer 'unavailable'",
                type(error).__name__,
            )
        return HearthError(
            Code.UNAVAILABLE,
            "moving to a new device is not possible for a moment; try again shortly",
            retry_after_ms=REDIS_RETRY_AFTER_MS,
        )

    async def open(self, link_id: bytes, sid: str, share: str, ttl_ms: int, now_ms: int) -> None:
        if self._parties.open_count(now_ms) >= MAX_OPEN_LINKS:
            raise refused("busy")
        if not await self._run("open", link_id, sid, share, ttl_ms):
            raise refused("taken")
        self._parties.opened[link_id] = now_ms + ttl_ms
        self._parties.add(sid, link_id, now_ms + ttl_ms)

    async def join(self, link_id: bytes, sid: str, now_ms: int) -> tuple[str, str]:
        answer = await self._run("join", link_id, sid)
        assert isinstance(answer, list)
        if answer[0] == "used":
            raise refused("used")
        if answer[0] != "ok":
            raise refused("no_one_shows")
        self._parties.add(sid, link_id, now_ms + int(answer[3]))
        return answer[1], answer[2]

    async def relay(self, link_id: bytes, sid: str, now_ms: int) -> str:
        answer = await self._run("relay", link_id, sid, MAX_CHUNKS)
        assert isinstance(answer, list)
        if answer[0] == "waiting":
            raise refused("waiting")
        if answer[0] == "full":
            raise refused("full")
        if answer[0] != "ok":
            self._parties.drop(sid, link_id)
            raise refused("not_found")
        return answer[1]

    async def close(self, link_id: bytes, sid: str, now_ms: int) -> str | None:
        answer = await self._run("close", link_id, sid)
        assert isinstance(answer, list)
        self._parties.drop(sid, link_id)
        if answer[0] != "ok":
            raise refused("not_found")
        return answer[1] or None

    async def forget(self, sid: str, now_ms: int) -> list[tuple[bytes, str]]:
        told: list[tuple[bytes, str]] = []
        for link_id, expires_ms in list(self._parties.by_sid.get(sid, {}).items()):
            self._parties.drop(sid, link_id)
            if expires_ms <= now_ms:
                continue
            try:
                answer = await self._run("close", link_id, sid)
            except HearthError:  # Redis is away: the link expires there by itself
                continue
            assert isinstance(answer, list)
            if answer[0] == "ok" and answer[1]:
                told.append((link_id, answer[1]))
        return told

    async def close_store(self) -> None:
        await self._redis.aclose()
