"""Each socket's rooms, kept beside python-socketio's room table.

python-socketio 5.18 finds the rooms of a socket that leaves by copying the namespace's whole
room table and testing every room for the socket (``BaseManager.basic_disconnect``), and so
does ``get_rooms``. Every socket has a room of its own and one of its account, so with N
sockets connected one disconnect costs O(N), and N sockets leaving (a restart, a network cut)
O(N²): measured with ``python -m bench.connect`` (docs/benchmarks.md, "Connecting").
"""

from __future__ import annotations

from typing import Any

import socketio


class IndexedRooms(socketio.AsyncManager):  # type: ignore[misc]
    """A manager that knows the rooms of each socket, so that leaving costs what the socket
    is in, not what the server holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # sid -> its rooms: a sid is one socket in one namespace (python-socketio makes a random
        # one per namespace connection), and a list (a socket is in a handful of rooms) is
        # smaller than a set; ~0.2 kB per connection
        self.rooms_of: dict[str, list[Any]] = {}

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        held = self.rooms_of.setdefault(sid, [])
        if room not in held:
            held.append(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        held = self.rooms_of.get(sid)
        if held is not None:
            try:
                held.remove(room)
            except ValueError:
                return
            if not held:
                del self.rooms_of[sid]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        # as BaseManager.basic_disconnect, with the rooms taken from the index
        for room in list(self.rooms_of.get(sid, ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self.rooms_of.get(sid, ()) if room is not None]
