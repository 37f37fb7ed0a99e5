"""The registry of client events: each has one schema and one handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

if TYPE_CHECKING:
    from server.realtime.hub import Hub
    from server.realtime.state import Connection

P = TypeVar("P", bound=msgspec.Struct)
Reply = dict[str, Any]
Handler = Callable[["Hub", "Connection", Any], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    schema: type[msgspec.Struct]
    handler: Handler


EVENTS: dict[str, Event] = {}


def event(
    name: str, schema: type[P]
) -> Callable[
    [Callable[[Hub, Connection, P], Awaitable[Reply]]],
    Callable[[Hub, Connection, P], Awaitable[Reply]],
]:
    def register(
        handler: Callable[[Hub, Connection, P], Awaitable[Reply]],
    ) -> Callable[[Hub, Connection, P], Awaitable[Reply]]:
        if name in EVENTS:
            raise RuntimeError(f"event {name!r} registered twice")
        EVENTS[name] = Event(name, schema, handler)
        return handler

    return register
