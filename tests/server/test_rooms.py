"""Each socket's rooms are indexed (server/realtime/rooms.py): a socket that leaves is taken
out of exactly its rooms without walking the server's room table, which made N sockets leaving
cost O(N²)."""

from __future__ import annotations

from typing import Any

import pytest

from server.realtime.fanout import DirectManager


class UnwalkableRooms(dict[Any, Any]):
    """A namespace's room table that fails the test if it is copied or walked whole."""

    def copy(self) -> dict[Any, Any]:
        raise AssertionError("the room table was copied to find a socket's rooms")

    def items(self) -> Any:
        raise AssertionError("the room table was walked to find a socket's rooms")


def manager_with(sockets: int) -> DirectManager:
    manager = DirectManager()
    for n in range(sockets):
        sid = f"sid{n}"
        manager.basic_enter_room(sid, "/", None, eio_sid=f"eio{n}")
        manager.basic_enter_room(sid, "/", sid, eio_sid=f"eio{n}")
        manager.basic_enter_room(sid, "/", f"account{n % 50}")
        manager.basic_enter_room(sid, "/", "group")
    return manager


@pytest.mark.parametrize("sockets", [1, 200])
def test_a_leaving_socket_leaves_its_rooms_without_a_walk(sockets: int) -> None:
    manager = manager_with(sockets)
    manager.rooms["/"] = UnwalkableRooms(manager.rooms["/"])
    for n in range(sockets):
        assert sorted(map(str, manager.get_rooms(f"sid{n}", "/"))) == sorted(
            [f"sid{n}", f"account{n % 50}", "group"]
        )
        manager.basic_disconnect(f"sid{n}", "/")
    assert "/" not in manager.rooms or not dict(manager.rooms["/"])
    assert manager.rooms_of == {}


def test_leaving_one_room_keeps_the_others() -> None:
    manager = manager_with(3)
    manager.basic_leave_room("sid1", "/", "group")
    assert set(manager.get_rooms("sid1", "/")) == {"sid1", "account1"}
    assert {sid for sid, _ in manager.get_participants("/", "group")} == {"sid0", "sid2"}
    manager.basic_leave_room("sid1", "/", "group")  # not in it: nothing changes
    manager.basic_disconnect("sid1", "/")
    assert "sid1" not in manager.rooms_of
    assert {sid for sid, _ in manager.get_participants("/", None)} == {"sid0", "sid2"}
