"""Device links across processes (server/realtime/link_slots.py, docs/protocol.md §15.3): two
real Hearth processes share a real Redis; the old device is connected to one, the new device to
the other, and the whole exchange runs between them. Every bound holds across the two: one use,
expiry, the message count; with Redis stopped a link event answers ``unavailable`` and the rest
of the server keeps working."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto import devicelink
from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from server.realtime.devicelinks import MAX_CHUNKS
from tests.conftest import GENEROUS_LIMITS, RunningServer, free_port
from tests.devicelink_steps import received, whole_exchange
from tests.scale.test_redis_scaleout import Redis, SharedDatabaseServer, redis  # noqa: F401

Connect = Callable[[RunningServer], Awaitable[HearthClient]]
LINK_SECONDS = 2


@pytest.fixture
def two_servers(tmp_path: Path, redis: Redis) -> Iterator[tuple[RunningServer, RunningServer]]:  # noqa: F811
    """As tests/scale/test_redis_scaleout.py's, with links that expire after two seconds."""
    scale = (
        f'[scale]\nredis_url = "{redis.url}"\n'
        + GENEROUS_LIMITS
        + f"device_link_seconds = {LINK_SECONDS}\n"
    )
    first = SharedDatabaseServer(tmp_path / "one", free_port(), scale)
    first.start()
    second = SharedDatabaseServer(tmp_path / "two", free_port(), scale, shared_with=first.directory)
    second.start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    made: list[HearthClient] = []

    async def connect_to(server: RunningServer) -> HearthClient:
        client = HearthClient(server.url, timeout=10.0)
        made.append(client)
        await client.connect()
        return client

    yield connect_to
    for client in made:
        await client.disconnect()


async def refusal(call: Awaitable[object]) -> HearthRefused:
    with pytest.raises(HearthRefused) as refused:
        await call
    return refused.value


def fresh_link() -> tuple[str, str, str]:
    code = devicelink.new_code()
    share = b64encode(devicelink.share(code, os.urandom(32)))
    other = b64encode(devicelink.share(code, os.urandom(32)))
    return b64encode(devicelink.link_id(code)), share, other


async def test_the_old_device_on_one_process_moves_to_a_new_device_on_the_other(
    two_servers: tuple[RunningServer, RunningServer], connect: Connect
) -> None:
    one, two = two_servers
    old, new = await connect(one), await connect(two)
    link_id, _ = await whole_exchange(old, new, LINK_SECONDS * 1000)

    # closed on process one: gone on process two too
    gone = await refusal(new.call("link.msg", {"link_id": link_id, "data": "AAAA"}))
    assert gone.code == "not_found"


async def test_a_device_that_goes_away_ends_the_link_on_the_other_process(
    two_servers: tuple[RunningServer, RunningServer], connect: Connect
) -> None:
    one, two = two_servers
    old, new = await connect(one), await connect(two)
    link_id, share, other = fresh_link()
    await old.call("link.open", {"link_id": link_id, "share": share})
    await new.call("link.join", {"link_id": link_id, "share": other})
    await new.disconnect()
    (closed,) = await received(old, "link.closed")
    assert closed == {"link_id": link_id, "reason": "gone"}
    gone = await refusal(old.call("link.msg", {"link_id": link_id, "data": "AAAA"}))
    assert gone.code == "not_found"


async def test_a_code_is_used_once_whichever_process_is_reached(
    two_servers: tuple[RunningServer, RunningServer], connect: Connect
) -> None:
    one, two = two_servers
    old = await connect(one)
    link_id, share, other = fresh_link()
    await old.call("link.open", {"link_id": link_id, "share": share})
    taken = await refusal(
        (await connect(two)).call("link.open", {"link_id": link_id, "share": share})
    )
    assert taken.code == "link_taken"

    # two devices type the code at once, one on each process: exactly one gets the link
    racers = [await connect(one), await connect(two)]
    answers = await asyncio.gather(
        *(r.call("link.join", {"link_id": link_id, "share": other}) for r in racers),
        return_exceptions=True,
    )
    winners = [a for a in answers if isinstance(a, dict)]
    losers = [a for a in answers if isinstance(a, HearthRefused)]
    assert len(winners) == 1
    assert winners[0]["share"] == share
    assert [loser.code for loser in losers] == ["link_used"]
    for late in (await connect(one), await connect(two)):
        used = await refusal(late.call("link.join", {"link_id": link_id, "share": other}))
        assert used.code == "link_used"
    assert len(await received(old, "link.joined")) == 1
    # a third socket, not party to the link, can neither send on it nor close it
    stranger = await connect(two)
    for event, extra in (("link.msg", {"data": "AAAA"}), ("link.close", {"reason": "done"})):
        refused = await refusal(stranger.call(event, {"link_id": link_id, **extra}))
        assert refused.code == "not_found"


async def test_a_link_carries_at_most_its_message_count_across_processes(
    two_servers: tuple[RunningServer, RunningServer], connect: Connect
) -> None:
    one, two = two_servers
    old, new = await connect(one), await connect(two)
    link_id, share, other = fresh_link()
    await old.call("link.open", {"link_id": link_id, "share": share})
    await new.call("link.join", {"link_id": link_id, "share": other})
    for i in range(MAX_CHUNKS):  # the count is one count: both sides spend it
        sender = old if i % 2 else new
        await sender.call("link.msg", {"link_id": link_id, "data": "AAAA"})
    for sender in (old, new):
        full = await refusal(sender.call("link.msg", {"link_id": link_id, "data": "AAAA"}))
        assert full.code == "too_large"
    await old.wait_for(lambda: sum(e == "link.msg" for e, _ in old.events) == MAX_CHUNKS // 2)
    await new.wait_for(lambda: sum(e == "link.msg" for e, _ in new.events) == MAX_CHUNKS // 2)


async def test_a_link_expires_on_every_process(
    two_servers: tuple[RunningServer, RunningServer], connect: Connect
) -> None:
    one, two = two_servers
    old, new = await connect(one), await connect(two)
    link_id, share, other = fresh_link()
    await old.call("link.open", {"link_id": link_id, "share": share})
    held = await refusal(new.call("link.open", {"link_id": link_id, "share": other}))
    assert held.code == "link_taken"  # the other process sees the link while it lasts
    await asyncio.sleep(LINK_SECONDS + 0.3)
    late = await refusal(new.call("link.join", {"link_id": link_id, "share": other}))
    assert late.code == "not_found"
    assert not [e for e, _ in old.events if e == "link.joined"]
    # the id is free again, on the other process too
    again = await new.call("link.open", {"link_id": link_id, "share": other})
    assert again["expires_in_ms"] == LINK_SECONDS * 1000


async def once_redis_is_back(call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Each process notices on its own that Redis is back; until then it answers unavailable."""
    for _ in range(3):
        try:
            return await call()
        except HearthRefused as refused:
            if refused.code != "unavailable":
                raise
        await asyncio.sleep(1.5)
    return await call()


async def test_with_redis_stopped_link_events_answer_unavailable_and_the_rest_works(
    two_servers: tuple[RunningServer, RunningServer],
    redis: Redis,  # noqa: F811
    connect: Connect,
) -> None:
    one, two = two_servers
    old, new = await connect(one), await connect(two)
    link_id, share, other = fresh_link()
    await old.call("link.open", {"link_id": link_id, "share": share})
    redis.process.send_signal(signal.SIGSTOP)
    try:
        refusals = [
            await refusal(old.call("link.open", {"link_id": fresh_link()[0], "share": share})),
            await refusal(new.call("link.join", {"link_id": link_id, "share": other})),
            await refusal(old.call("link.close", {"link_id": link_id, "reason": "cancelled"})),
        ]
        for refused in refusals:
            assert refused.code == "unavailable", refused
            assert "try again" in refused.message
            assert refused.detail.get("retry_after_ms", 0) > 0
        # the rest of the server does not need Redis for this
        for client in (old, new):
            assert (await client.call("groups.list"))["ok"] is True
    finally:
        redis.process.send_signal(signal.SIGCONT)

    # Redis is back: links work again, on fresh sockets (each refusal counted as an attempt)
    link_id, share, other = fresh_link()
    mover, arrival = await connect(one), await connect(two)
    await once_redis_is_back(lambda: mover.call("link.open", {"link_id": link_id, "share": share}))
    joined = await once_redis_is_back(
        lambda: arrival.call("link.join", {"link_id": link_id, "share": other})
    )
    assert joined["share"] == share
    assert len(await received(mover, "link.joined")) == 1
    for server in (one, two):
        assert "Traceback" not in server.log_text()
