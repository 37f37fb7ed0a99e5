"""The device link's relay (docs/protocol.md §15.3): two devices of one member meet under a
rendezvous id and pass each other opaque bytes. The server learns the id (a hash of the code's
first four characters), the two PAKE shares and the sealed chunks; none of it opens anything or
can be used again. Links are short-lived (``limits.device_link_seconds``), bounded
(MAX_OPEN_LINKS, MAX_CHUNKS, per-connection attempts) and used once (a second join is refused,
a closed or expired id is gone). Where they are kept (this process, or Redis shared by every
process so that the two devices may reach different ones) is link_slots.py's business."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Final

from crypto.encoding import b64encode
from server.errors import Code, HearthError
from server.realtime import link_schemas as schemas
from server.realtime.events import Reply, event
from server.realtime.link_slots import MAX_CHUNKS, MAX_OPEN_LINKS
from server.realtime.state import Connection
from server.realtime.wire import decode_b64

if TYPE_CHECKING:
    from server.realtime.hub import Hub

__all__ = ["MAX_CHUNKS", "MAX_JOINS_PER_CONNECTION", "MAX_OPENS_PER_CONNECTION", "MAX_OPEN_LINKS"]

MAX_OPENS_PER_CONNECTION: Final = 5
MAX_JOINS_PER_CONNECTION: Final = 5
PRUNE_COUNTERS_ABOVE: Final = 4096  # attempt counters kept before those of gone sockets go


class LinkAttempts:
    """Opens and joins per socket. A socket lives on one process, so its counters do too."""

    def __init__(self) -> None:
        self.opens: dict[str, int] = {}
        self.joins: dict[str, int] = {}

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


_attempts: weakref.WeakKeyDictionary[Hub, LinkAttempts] = weakref.WeakKeyDictionary()


def attempts_of(hub: Hub) -> LinkAttempts:
    attempts = _attempts.get(hub)
    if attempts is None:
        attempts = _attempts[hub] = LinkAttempts()
    return attempts


async def forget_socket(hub: Hub, sid: str) -> None:
    """A socket went away: its links end, and the device on the other end hears it at once
    (on whichever process it is connected to)."""
    attempts = _attempts.get(hub)
    if attempts is not None:
        attempts.opens.pop(sid, None)
        attempts.joins.pop(sid, None)
    for link_id, peer in await hub.link_slots.forget(sid, hub.clock()):
        await hub.sio.emit(
            "link.closed", {"link_id": b64encode(link_id), "reason": "gone"}, to=peer
        )


@event("link.open", schemas.LinkOpen)
async def open_link(hub: Hub, connection: Connection, payload: schemas.LinkOpen) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    decode_b64(payload.share, "share", 32)
    attempts = attempts_of(hub)
    attempts.count(hub, attempts.opens, connection.sid, MAX_OPENS_PER_CONNECTION)
    ttl_ms = hub.config.limits.device_link_seconds * 1000
    await hub.link_slots.open(link_id, connection.sid, payload.share, ttl_ms, hub.clock())
    return {"expires_in_ms": ttl_ms}


@event("link.join", schemas.LinkJoin)
async def join_link(hub: Hub, connection: Connection, payload: schemas.LinkJoin) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    decode_b64(payload.share, "share", 32)
    attempts = attempts_of(hub)
    attempts.count(hub, attempts.joins, connection.sid, MAX_JOINS_PER_CONNECTION)
    opener, share = await hub.link_slots.join(link_id, connection.sid, hub.clock())
    await hub.sio.emit(
        "link.joined",
        {"link_id": payload.link_id, "share": payload.share},
        to=opener,
    )
    return {"share": share}


@event("link.msg", schemas.LinkMsg)
async def relay_message(hub: Hub, connection: Connection, payload: schemas.LinkMsg) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    decode_b64(payload.data, "data")
    peer = await hub.link_slots.relay(link_id, connection.sid, hub.clock())
    await hub.sio.emit("link.msg", {"link_id": payload.link_id, "data": payload.data}, to=peer)
    return {}


@event("link.close", schemas.LinkClose)
async def close_link(hub: Hub, connection: Connection, payload: schemas.LinkClose) -> Reply:
    link_id = decode_b64(payload.link_id, "link_id", 16)
    peer = await hub.link_slots.close(link_id, connection.sid, hub.clock())
    if peer is not None:
        await hub.sio.emit(
            "link.closed", {"link_id": payload.link_id, "reason": payload.reason}, to=peer
        )
    return {}
