"""The device link's relay (docs/protocol.md §16.3): two devices of one member meet under a
rendezvous id and pass each other opaque bytes. The server learns the id (a hash of the code's
first four characters), the two PAKE shares and the sealed chunks; none of it opens anything or
can be used again. Links live in this process's memory only: short-lived
(``limits.device_link_seconds``), bounded (MAX_OPEN_LINKS, MAX_CHUNKS, per-connection attempts)
and used once (a second join is refused, a closed or expired id is gone)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from crypto.encoding import b64encode
from server.errors import Code, HearthError
from server.realtime import link_schemas as schemas
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.wire import decode_b64

if TYPE_CHECKING:
    from server.realtime.hub import Hub

MAX_OPEN_LINKS: Final = 1000
MAX_CHUNKS: Final = 128  # 128 × 32 KiB: a bundle of 4 MiB
MAX_OPENS_PER_CONNECTION: Final = 5
MAX_JOINS_PER_CONNECTION: Final = 5
PRUNE_COUNTERS_ABOVE: Final = 4096  # attempt counters kept before those of gone sockets go


@dataclass(slots=True)
class Link:
    opener: str  # the old device's sid
    share: str  # its PAKE share, relayed as sent
    expires_ms: int
    joiner: str | None = None
    chunks: int = 0


@dataclass(slots=True)
class LinkRelay:
    links: dict[bytes, Link] = field(default_factory=dict)
    opens: dict[str, int] = field(default_factory=dict)  # attempts per sid
    joins: dict[str, int] = field(default_factory=dict)

    def sweep(self, now_ms: int) -> None:
        for link_id in [i for i, link in self.links.items() if link.expires_ms <= now_ms]:
            del self.links[link_id]

    def live(self, link_id: bytes, now_ms: int) -> Link | None:
        link = self.links.get(link_id)
        if link is not None and link.expires_ms <= now_ms:
            del self.links[link_id]
            return None
        return link

    def count(self, hub: Hub, attempts: dict[str, int], sid: str, limit: int) -> None:
        if len(attempts) > PRUNE_COUNTERS_ABOVE:  # a socket's counter goes with the socket
            for gone in [s for s in attempts if s not in hub.connections]:
                del attempts[gone]
        used = attempts.get(sid, 0)
        if used >= limit:
            raise HearthError(
                Code.RATE_LIMITED, "too many device links from this connection; reconnect later"
            )
        attempts[sid] = used + 1


_relays: weakref.WeakKeyDictionary[Hub, LinkRelay] = weakref.WeakKeyDictionary()


def relay_of(hub: Hub) -> LinkRelay:
    relay = _relays.get(hub)
    if relay is None:
        relay = _relays[hub] = LinkRelay()
    return relay


def _party(link: Link | None, sid: str) -> Link:
    if link is None or sid not in (link.opener, link.joiner):
        raise HearthError(Code.NOT_FOUND, "no such device link (it may have expired)")
    return link


async def forget_socket(hub: Hub, sid: str) -> None:
    """A socket went away: its links end, and the device on the other end hears it at once."""
    relay = _relays.get(hub)
    if relay is None:
        return
    relay.opens.pop(sid, None)
    relay.joins.pop(sid, None)
    for link_id, link in [
        (i, link) for i, link in relay.links.items() if sid in (link.opener, link.joiner)
    ]:
        del relay.links[link_id]
        peer = link.joiner if sid == link.opener else link.opener
        if peer is not None:
            await hub.sio.emit(
                "link.closed", {"link_id": b64encode(link_id), "reason": "gone"}, to=peer
            )


@event("link.open", schemas.LinkOpen)
async def open_link(hub: Hub, connection: Connection, payload: schemas.LinkOpen) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    decode_b64(payload.share, "share", 32)
    relay = relay_of(hub)
    now = hub.clock()
    relay.sweep(now)
    relay.count(hub, relay.opens, connection.sid, MAX_OPENS_PER_CONNECTION)
    if link_id in relay.links:
        raise HearthError(Code.LINK_TAKEN, "this code is in use; show a new code")
    if len(relay.links) >= MAX_OPEN_LINKS:
        raise HearthError(Code.UNAVAILABLE, "too many devices are linking now; try again soon")
    ttl_ms = hub.config.limits.device_link_seconds * 1000
    relay.links[link_id] = Link(opener=connection.sid, share=payload.share, expires_ms=now + ttl_ms)
    return {"expires_in_ms": ttl_ms}


@event("link.join", schemas.LinkJoin)
async def join_link(hub: Hub, connection: Connection, payload: schemas.LinkJoin) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    decode_b64(payload.share, "share", 32)
    relay = relay_of(hub)
    relay.count(hub, relay.joins, connection.sid, MAX_JOINS_PER_CONNECTION)
    link = relay.live(link_id, hub.clock())
    if link is None or link.opener == connection.sid:
        raise HearthError(Code.NOT_FOUND, "no device is showing this code (it may have expired)")
    if link.joiner is not None:
        raise HearthError(Code.LINK_USED, "this code was already used; show a new code")
    link.joiner = connection.sid
    await hub.sio.emit(
        "link.joined",
        {"link_id": payload.link_id, "share": payload.share},
        to=link.opener,
    )
    return {"share": link.share}


@event("link.msg", schemas.LinkMsg)
async def relay_message(hub: Hub, connection: Connection, payload: schemas.LinkMsg) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    decode_b64(payload.data, "data")
    relay = relay_of(hub)
    link = _party(relay.live(link_id, hub.clock()), connection.sid)
    if link.joiner is None:
        raise HearthError(Code.BAD_REQUEST, "no device has joined this link yet")
    if link.chunks >= MAX_CHUNKS:
        raise HearthError(Code.TOO_LARGE, f"a device link carries at most {MAX_CHUNKS} chunks")
    link.chunks += 1
    peer = link.joiner if connection.sid == link.opener else link.opener
    await hub.sio.emit("link.msg", {"link_id": payload.link_id, "data": payload.data}, to=peer)
    return {}


@event("link.close", schemas.LinkClose)
async def close_link(hub: Hub, connection: Connection, payload: schemas.LinkClose) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    relay = relay_of(hub)
    link = _party(relay.live(link_id, hub.clock()), connection.sid)
    del relay.links[link_id]
    peer = link.joiner if connection.sid == link.opener else link.opener
    if peer is not None:
        await hub.sio.emit(
            "link.closed", {"link_id": payload.link_id, "reason": payload.reason}, to=peer
        )
    return {}
