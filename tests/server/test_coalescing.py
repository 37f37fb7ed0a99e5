"""With [server] coalesce_ms, a group's messages reach each member in msg.batch frames: every
message exactly once, in order, in fewer frames than messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from server.realtime.delivery import Deliveries
from server.realtime.wire import group_room
from tests.conftest import Clients, RunningServer, facilitator, member_in, serve_in
from tests.server.inprocess import counting_tasks


@pytest.fixture
def hearth_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", server_config="coalesce_ms = 20.0\ncoalesce_max = 8\n")


async def test_messages_arrive_batched_once_each_and_in_order(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Busy room", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    texts = [f"message {i}" for i in range(30)]
    acks = await asyncio.gather(*(ana.send(group, text) for text in texts))
    in_order = [text for _, text in sorted(zip((a["seq"] for a in acks), texts, strict=True))]
    for client in (fac, ben, ana):
        await client.wait_for(lambda c=client: len(c.texts(group)) == 30)
        assert client.texts(group) == in_order
    batches = [d for e, d in ben.events if e == "msg.batch"]
    assert 1 < len(batches) < 30
    assert all(len(b["messages"]) <= 8 for b in batches)
    assert sum(len(b["messages"]) for b in batches) == 30  # each exactly once
    assert not [e for e, _ in ben.events if e == "msg"]
    # the only sender is sent none of them back: it has each from its acknowledgement
    assert not [e for e, _ in ana.events if e in ("msg.batch", "msg")]
    assert len(ana.inbox[group]) == 30


class RecordingServer:
    """Stands in for socketio.AsyncServer.emit: the frames sent, and when (loop time)."""

    def __init__(self, manager: socketio.AsyncManager | None = None) -> None:
        self.manager = manager or socketio.AsyncManager()
        self.frames: list[tuple[float, str, list[int]]] = []
        self.skipped: dict[str, str | None] = {}  # room -> the socket its last frame skipped
        self.emitted = asyncio.Event()

    async def emit(
        self, event: str, data: dict[str, Any], room: str, skip_sid: str | None = None
    ) -> None:
        seqs = [m["seq"] for m in data["messages"]] if event == "msg.batch" else [data["seq"]]
        self.frames.append((asyncio.get_running_loop().time(), event, seqs))
        self.skipped[room] = skip_sid
        self.emitted.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.frames) < count:
                self.emitted.clear()
                await self.emitted.wait()

    def sent(self) -> list[list[int]]:
        return [seqs for _, _, seqs in self.frames]


def deliveries(sio: RecordingServer, window_ms: float = 0, max_batch: int = 64) -> Deliveries:
    return Deliveries(cast("socketio.AsyncServer", sio), window_ms=window_ms, max_batch=max_batch)


GROUP, OTHER = b"g" * 16, b"h" * 16


async def test_messages_committed_together_share_one_frame_without_waiting() -> None:
    """As in the relay: handlers wait on the writer's futures (through shield), the writer
    resolves a whole batch at once, and each handler then delivers its message."""
    sio = RecordingServer()
    relay = deliveries(sio)
    loop = asyncio.get_running_loop()
    commits = [loop.create_future() for _ in range(5)]

    async def handler(seq: int, committed: asyncio.Future[None]) -> None:
        await asyncio.shield(committed)
        await relay.deliver(GROUP if seq <= 4 else OTHER, {"seq": seq}, "sid")

    handlers = [asyncio.create_task(handler(i + 1, c)) for i, c in enumerate(commits)]
    await asyncio.sleep(0)
    for committed in commits:
        committed.set_result(None)
    await asyncio.gather(*handlers)
    await sio.until(2)
    assert sorted(sio.sent()) == [[1, 2, 3, 4], [5]]
    # a lone message is sent in the next turn: nothing waits for a window
    await relay.deliver(GROUP, {"seq": 6}, "sid")
    await asyncio.sleep(0)
    assert sio.sent()[-1] == [6]


async def test_one_task_sends_the_batches_of_every_group_of_a_turn() -> None:
    """In rooms of 10 most batches hold one message: a task per group was a task per message."""
    sio = RecordingServer()
    relay = deliveries(sio)
    groups = [bytes([n]) * 16 for n in range(5)]
    with counting_tasks() as created:
        for seq, group in enumerate(groups, 1):
            await relay.deliver(group, {"seq": seq}, "sid")
        await relay.deliver(groups[0], {"seq": 6}, "sid")
        await sio.until(5)
    assert created() == 1
    assert sio.sent() == [[1, 6], [2], [3], [4], [5]]
    # the next turn's batches go out too
    await relay.deliver(groups[1], {"seq": 7}, "sid")
    await sio.until(6)
    assert sio.sent()[-1] == [7]


async def test_with_a_pub_sub_manager_each_groups_batch_has_a_task_of_its_own() -> None:
    """With Redis each broadcast waits for its publish: the publishes of a turn must overlap."""
    sio = RecordingServer(AsyncPubSubManager())
    relay = deliveries(sio)
    groups = [bytes([n]) * 16 for n in range(5)]
    with counting_tasks() as created:
        for seq, group in enumerate(groups, 1):
            await relay.deliver(group, {"seq": seq}, "sid")
        await sio.until(5)
    assert created() == 5
    assert sio.sent() == [[1], [2], [3], [4], [5]]


async def test_a_batch_skips_its_sender_only_when_all_its_messages_are_from_one_socket() -> None:
    sio = RecordingServer()
    relay = deliveries(sio, window_ms=30)
    await relay.deliver(GROUP, {"seq": 1}, "ana")
    await relay.deliver(GROUP, {"seq": 2}, "ana")
    await relay.deliver(OTHER, {"seq": 1}, "ana")
    await relay.deliver(OTHER, {"seq": 2}, "ben")
    await sio.until(2)
    assert sio.sent() == [[1, 2], [1, 2]]
    assert sio.skipped == {group_room(GROUP): "ana", group_room(OTHER): None}


async def test_a_window_gathers_what_follows_the_first_message() -> None:
    sio = RecordingServer()
    relay = deliveries(sio, window_ms=30)
    started = asyncio.get_running_loop().time()
    await relay.deliver(GROUP, {"seq": 1}, "sid")
    await asyncio.sleep(0.005)
    await relay.deliver(GROUP, {"seq": 2}, "sid")
    assert sio.frames == []
    await sio.until(1)
    assert sio.sent() == [[1, 2]]
    assert sio.frames[0][0] - started >= 0.029  # not before the window ended


async def test_a_full_batch_goes_at_once_and_close_sends_what_waits() -> None:
    sio = RecordingServer()
    relay = deliveries(sio, window_ms=50, max_batch=3)
    for seq in range(1, 6):
        await relay.deliver(GROUP, {"seq": seq}, "sid")
    assert sio.sent() == [[1, 2, 3]]
    await relay.close()
    assert sio.sent() == [[1, 2, 3], [4, 5]]


async def test_coalesce_max_1_sends_each_message_as_a_msg_event() -> None:
    sio = RecordingServer()
    relay = deliveries(sio, max_batch=1)
    await relay.deliver(GROUP, {"seq": 1}, "sid")
    await relay.deliver(GROUP, {"seq": 2}, "sid")
    assert [(event, seqs) for _, event, seqs in sio.frames] == [("msg", [1]), ("msg", [2])]
