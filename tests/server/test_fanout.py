"""server/realtime/fanout.py: a broadcast framed once goes straight to each socket that has
nothing else waiting, and every socket still sees its frames in the order they were sent.

A real uvicorn (the lean websockets-sansio protocol) and raw websocket clients, in this process
so that a test can hold a packet in a socket's queue or pause a transport between two sends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from engineio import packet as eio_packet
from socketio.async_pubsub_manager import AsyncPubSubManager
from websockets.asyncio.client import ClientConnection, connect

from server.cluster import RedisManager
from server.realtime.fanout import (
    DirectManager,
    DirectSocketIOServer,
    LinkedWebSocket,
    OutgoingQueue,
)
from server.realtime.lean import LeanWebSocketProtocol
from tests.server.inprocess import serving

ROOM = "room"


@pytest.fixture
async def served() -> AsyncIterator[tuple[DirectSocketIOServer, int]]:
    sio = DirectSocketIOServer(async_mode="asgi", transports=["websocket"])

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, _: Any) -> str:
        await sio.enter_room(sid, ROOM)
        await sio.emit("joined", sid, room=ROOM)  # a broadcast, then the ack: in that order
        return sid

    async with serving(sio) as (_, port):
        yield sio, port


class Member:
    def __init__(self, ws: ClientConnection, sid: str, eio_sid: str) -> None:
        self.ws = ws
        self.sid = sid
        self.eio_sid = eio_sid

    async def events(self, count: int) -> list[list[Any]]:
        """The next ``count`` Socket.IO events (engine.io pings answered on the way)."""
        seen: list[list[Any]] = []
        while len(seen) < count:
            frame = str(await asyncio.wait_for(self.ws.recv(), 5))
            if frame == "2":
                await self.ws.send("3")
                continue
            assert frame.startswith("42"), frame
            seen.append(json.loads(frame[2:]))
        return seen


async def join(sio: DirectSocketIOServer, port: int) -> Member:
    ws = await connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0")
    await ws.send("40")
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40")
    await ws.send('421["join",null]')
    frames = []
    while not (frames and frames[-1].startswith("431")):
        frames.append(str(await asyncio.wait_for(ws.recv(), 5)))
    sid = json.loads(frames[-1][3:])[0]
    # The broadcast it started reached it before the ack (a member already there got it too).
    assert frames[:-1] == [f'42["joined","{sid}"]']
    eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
    return Member(ws, sid, eio_sid)


def engine_socket(sio: DirectSocketIOServer, member: Member) -> Any:
    return sio.eio.sockets[member.eio_sid]


def record_puts(queue: OutgoingQueue, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    put: list[Any] = []
    original = queue._put

    def recording(item: Any) -> None:
        put.append(item)
        original(item)

    monkeypatch.setattr(queue, "_put", recording)
    return put


async def test_the_sockets_are_linked_to_their_transport(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    sio, port = served
    assert isinstance(sio.manager, DirectManager)
    assert sio.eio._async["websocket"] is LinkedWebSocket
    member = await join(sio, port)
    socket = engine_socket(sio, member)
    assert isinstance(socket.queue, OutgoingQueue)
    assert isinstance(socket.direct, LeanWebSocketProtocol)
    assert socket.queue.unwritten == 0  # the open packet and the connect answer were counted
    await member.ws.close()


async def test_a_broadcast_goes_straight_to_every_idle_socket(
    served: tuple[DirectSocketIOServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sio, port = served
    members = [await join(sio, port) for _ in range(3)]
    await members[0].events(2)  # the others' "joined"
    await members[1].events(1)
    puts = [record_puts(engine_socket(sio, m).queue, monkeypatch) for m in members]
    for number in range(5):
        await sio.emit("note", {"n": number}, room=ROOM, skip_sid=members[2].sid)
    assert puts == [[], [], []]  # nothing went through engine.io's queues
    for member in members[:2]:
        assert await member.events(5) == [["note", {"n": n}] for n in range(5)]
    await sio.emit("to one", "x", to=members[2].sid)  # one socket: straight too
    assert puts == [[], [], []]
    assert await members[2].events(1) == [["to one", "x"]]
    for member in members:
        await member.ws.close()


async def test_a_socket_with_a_packet_waiting_gets_the_broadcast_after_it(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    sio, port = served
    waiting, idle = await join(sio, port), await join(sio, port)
    await waiting.events(1)
    queue = engine_socket(sio, waiting).queue
    # Queued, and the socket's writer has not run yet: a frame written now would overtake it.
    queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, '2["first",1]'))
    assert queue.unwritten == 1
    await sio.emit("second", 2, room=ROOM)
    assert await waiting.events(2) == [["first", 1], ["second", 2]]
    assert await idle.events(1) == [["second", 2]]
    assert queue.unwritten == 0
    for member in (waiting, idle):
        await member.ws.close()


async def test_a_paused_transport_gets_its_broadcasts_through_the_queue(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    """A client that reads slowly fills its queue, where the hub's backlog limit sees it."""
    sio, port = served
    slow = await join(sio, port)
    socket = engine_socket(sio, slow)
    protocol = socket.direct
    protocol.pause_writing()  # what the transport calls when its buffer passes the high mark
    for number in range(3):
        await sio.emit("note", number, room=ROOM)
    await asyncio.sleep(0.05)
    assert socket.queue.unwritten == 3
    assert socket.queue.qsize() >= 2  # the writer holds the first, waiting to be writable
    protocol.resume_writing()
    await sio.emit("note", 3, room=ROOM)
    assert await slow.events(4) == [["note", n] for n in range(4)]
    assert socket.queue.unwritten == 0
    await slow.ws.close()


async def test_a_closed_socket_does_not_stop_a_broadcast(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    sio, port = served
    gone, staying = await join(sio, port), await join(sio, port)
    await gone.events(1)
    engine_socket(sio, gone).direct.transport.abort()
    await sio.emit("after", None, room=ROOM)  # must not raise
    assert await staying.events(1) == [["after"]]
    await staying.ws.close()


def test_the_redis_manager_fans_out_what_it_receives_directly() -> None:
    """AsyncPubSubManager's listener calls ``super().emit``: that must be DirectManager's."""
    mro = RedisManager.__mro__
    assert (
        mro.index(AsyncPubSubManager) < mro.index(DirectManager) < mro.index(socketio.AsyncManager)
    )
