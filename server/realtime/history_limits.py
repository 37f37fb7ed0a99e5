"""What one socket may ask of ``history.get``: a page is up to 200 stored messages read from the
database, turned into JSON and queued for the socket, so a client that asks for pages without
reading them costs the server memory per request (120 unread requests took it from 71 MB to over
400 MB). So:

* ``history.get`` is rate limited per account and per connection (``[limits]
  history_pages_per_minute``, ``history_burst``), like messages, and a connection that keeps
  asking past its refusals is disconnected (``Limits.FLOOD_REFUSALS``);
* at most ``history_pages_in_flight`` requests of one connection are answered at once; more are
  refused with ``rate_limited`` until an answer has gone out;
* what is answered and not read counts toward the socket's outgoing byte bound
  (``max_outgoing_backlog_bytes``, fanout.OutgoingQueue), past which it is disconnected.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from server.config import LimitsConfig
from server.errors import Code, HearthError
from server.ratelimit import MINUTE_MS, Rule
from server.realtime.state import Connection

if TYPE_CHECKING:
    from server.realtime.hub import Hub


@functools.cache
def history_rule(config: LimitsConfig) -> Rule:
    return Rule("history", config.history_pages_per_minute / MINUTE_MS, config.history_burst)


@contextlib.asynccontextmanager
async def history_slot(hub: Hub, connection: Connection) -> AsyncIterator[None]:
    """Admit one history.get of this connection (rate limit, then pages in flight), or refuse."""
    limits = hub.config.limits
    await hub.limit(history_rule(limits), connection)
    if connection.history_in_flight >= limits.history_pages_in_flight:
        raise HearthError(
            Code.RATE_LIMITED,
            f"at most {limits.history_pages_in_flight} history pages at once; wait for an answer",
            retry_after_ms=1000,
        )
    connection.history_in_flight += 1
    try:
        yield
    finally:
        connection.history_in_flight -= 1


Handler = Callable[["Hub", Connection, Any], Awaitable[dict[str, Any]]]


def limit_history(handler: Handler) -> Handler:
    """The history.get handler, run inside :func:`history_slot`."""

    @functools.wraps(handler)
    async def limited(hub: Hub, connection: Connection, payload: Any) -> dict[str, Any]:
        async with history_slot(hub, connection):
            return await handler(hub, connection, payload)

    return limited
