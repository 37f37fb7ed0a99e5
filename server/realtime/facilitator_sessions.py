"""A facilitator session that ends takes the facilitator's power off every open socket at once.

A session ends four ways: logout (an HTTP request to this or another process), ``hearth
facilitator disable`` and ``reset-password`` (the CLI, another process that writes the database
only), and the idle or absolute timeout (nobody acts at all). Whatever the cause, each process
holding a socket of that session must stop sending it facilitator traffic (join requests, pending
members, reports with their plaintext) and refuse its facilitator events. So that none of the four
depends on one path, each process re-checks its facilitator sockets' sessions against the
database (one indexed read per session, no write):

* at once when this process ends a session (logout, a timeout found on use), and when another
  process or the CLI announces it on the cluster bus (``{"t": "sessions"}``, with ``[scale]
  redis_url``);
* before every broadcast to a group's facilitators, so that nothing is sent to a socket whose
  session ended a moment ago, whoever ended it;
* every ``[facilitators] session_check_seconds``, which alone bounds how long an ended session's
  socket stays in the facilitator rooms when nothing else happens (the CLI without Redis, a
  timeout).

Ending a socket's power: it leaves every facilitator room, forgets its session (its facilitator
events then answer ``session_ended``), gets a ``session.ended`` event, and facilitator presence is
published again. The socket stays connected as the member it also is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from server.realtime.state import Connection
from server.realtime.wire import FACILITATOR_ROOM_PREFIX, facilitator_room

if TYPE_CHECKING:
    from server.realtime.hub import Hub

log = logging.getLogger("hearth.realtime")
SESSIONS_NOTICE = {"t": "sessions"}


async def end_facilitator_power(hub: Hub, connection: Connection) -> None:
    """Take a socket out of every facilitator room and forget its session (idempotent)."""
    if connection.facilitator is None:
        return
    connection.facilitator = None
    connection.facilitating = frozenset()
    connection.session_ended = True
    sid = connection.sid
    rooms = {r for r in hub.sio.rooms(sid) if r.startswith(FACILITATOR_ROOM_PREFIX)}
    for room in rooms:
        await hub.sio.leave_room(sid, room)
    await hub.sio.emit(
        "session.ended",
        {"message": "Your facilitator session has ended. Please log in again."},
        to=sid,
    )
    await hub.publish_presence()


async def recheck_sessions(hub: Hub, group_id: bytes | None = None) -> None:
    """End the power of this process's sockets whose session is no longer live (only those
    facilitating ``group_id``, if given)."""
    by_session: dict[bytes, list[Connection]] = {}
    for connection in list(hub.connections.values()):
        session = connection.facilitator
        if session is None or (group_id is not None and group_id not in connection.facilitating):
            continue
        by_session.setdefault(session.token_hash, []).append(connection)
    for token_hash, connections in by_session.items():
        if not await hub.auth.session_is_valid(token_hash):
            for connection in connections:
                await end_facilitator_power(hub, connection)


async def emit_to_facilitators(hub: Hub, group_id: bytes, event: str, data: Any) -> None:
    """Broadcast to a group's facilitators, after the sessions of those here are re-checked.
    If they cannot be (the database fails), nothing is broadcast: what would have been sent
    (a report's plaintext, a join request) waits in the queue and lists instead, and the
    request that caused it still succeeds."""
    try:
        await recheck_sessions(hub, group_id)
    except Exception:
        log.exception("re-checking facilitator sessions failed; %s not broadcast", event)
        return
    await hub.sio.emit(event, data, room=facilitator_room(group_id))


async def watch_sessions(hub: Hub, interval: float) -> None:
    """Re-check every facilitator socket's session every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            await recheck_sessions(hub)
        except Exception:
            log.exception("re-checking facilitator sessions failed")
