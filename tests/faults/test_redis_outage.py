"""Redis goes away under two Hearth processes and comes back (issue 16, items 1 and 2).

Each process must keep accepting, storing and delivering to its own clients while Redis is
gone; a member removed meanwhile must get nothing more; when Redis is back, both processes
subscribe again and every client has every acknowledged message, exactly once, within seconds.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.client import HearthClient
from server.ratelimit import RedisAccountBuckets, Rule
from tests.conftest import RunningServer
from tests.faults.redis_support import (
    REDIS_PASSWORD,
    Chatter,
    RestartableRedis,
    admit,
    deliveries,
    facilitated_group,
    needs_redis,
    two_processes,
)

pytestmark = [needs_redis, pytest.mark.slow]
STALLED_CALL_S = 3.5  # server/redislink.py's command timeout (2 s) and some slack
CATCH_UP_S = 8.0  # after Redis is back, every client has everything within this


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def servers(
    tmp_path: Path, redis_server: RestartableRedis
) -> Iterator[tuple[RunningServer, RunningServer]]:
    yield from two_processes(tmp_path, redis_server.url)


@pytest.fixture
async def clients() -> AsyncIterator[list[HearthClient]]:
    made: list[HearthClient] = []
    yield made
    for client in made:
        await client.disconnect()


def check_logs(*processes: RunningServer) -> None:
    """No traceback, the loss and the return logged once each, never the Redis password."""
    for process in processes:
        text = process.log_text()
        assert "Traceback" not in text, text
        assert REDIS_PASSWORD not in text
        assert text.count("lost the connection to Redis") == 1, text
        assert text.count("reconnected to Redis") == 1, text


async def test_the_processes_rejoin_after_a_short_outage(
    servers: tuple[RunningServer, RunningServer],
    redis_server: RestartableRedis,
    clients: list[HearthClient],
) -> None:
    """After 3 s without Redis the bus is whole again: a newcomer on process two keyed by a
    rotation done on process one may post and receives live messages, and a member on process
    two removed through process one receives nothing more."""
    one, two = servers
    fac, group = await facilitated_group(one, clients, policy="facilitator_present")
    ben = await admit(fac, group, one, "Calm River", clients)
    ana = await admit(fac, group, two, "Quiet Fox", clients)
    assert redis_server.subscribers() == {"hearth-cluster": 2, "hearth-socketio": 2}

    redis_server.kill()
    await asyncio.sleep(3)
    redis_server.start()
    await redis_server.wait_for_subscribers(2, within=5)

    # a newcomer on process two, approved and keyed through process one
    cat = await admit(fac, group, two, "Bright Owl", clients)
    await cat.send(group, "hello from the newcomer")  # neither not_member nor posting_closed
    await ben.wait_for(lambda: "hello from the newcomer" in ben.texts(group))
    await ben.send(group, "welcome")
    await cat.wait_for(lambda: "welcome" in cat.texts(group))
    # the facilitator, on process one, is known to be online on process two
    await ana.send(group, "still open")

    # ana, on process two, removed through process one: nothing more reaches her
    await fac.remove(group, ana.member_id(group))
    await ana.wait_for(lambda: any(event == "membership" for event, _ in ana.events))
    await ben.send(group, "after ana left")
    await cat.send(group, "after ana left, from her process")
    for client in (fac, cat):
        await client.wait_for(
            lambda c=client: (
                {"after ana left", "after ana left, from her process"} <= set(c.texts(group))
            )
        )
    assert not {"after ana left", "after ana left, from her process"} & set(ana.texts(group))
    check_logs(one, two)


@pytest.mark.parametrize(("how", "outage_s"), [("kill", 3), ("kill", 20), ("stop", 3)])
async def test_messages_keep_flowing_through_an_outage(
    servers: tuple[RunningServer, RunningServer],
    redis_server: RestartableRedis,
    clients: list[HearthClient],
    how: str,
    outage_s: float,
) -> None:
    """Under a steady load, Redis is killed (and started again on its port) or stopped (and
    continued: connections stay open, nothing answers) for ``outage_s``: every message is
    acknowledged; everyone has every acknowledged message within seconds of Redis' return, none
    twice; members removed during and after the outage receive nothing afterwards."""
    one, two = servers
    fac, group = await facilitated_group(one, clients)
    ben = await admit(fac, group, one, "Calm River", clients)
    ana = await admit(fac, group, two, "Quiet Fox", clients)
    eve = await admit(fac, group, two, "Swift Wren", clients)  # removed during the outage
    dan = await admit(fac, group, two, "Gentle Elm", clients)  # removed after it
    chatters = [Chatter(ben, group, "ben"), Chatter(ana, group, "ana")]
    stop = asyncio.Event()
    load = asyncio.gather(*(chatter.run(stop) for chatter in chatters))
    acked: dict[int, str] = {}
    try:
        await asyncio.sleep(1)
        redis_server.kill() if how == "kill" else redis_server.pause()
        killed = time.monotonic()
        await asyncio.sleep(outage_s / 2)
        await fac.remove(group, eve.member_id(group))
        eve_gone = int((await fac.send(group, "eve is gone"))["seq"])
        acked[eve_gone] = "eve is gone"
        await asyncio.sleep(outage_s / 2)
        redis_server.start() if how == "kill" else redis_server.resume()
        back = time.monotonic()
        await redis_server.wait_for_subscribers(2, within=5)
        await asyncio.sleep(0.5)
        await fac.remove(group, dan.member_id(group))
        dan_gone = int((await fac.send(group, "dan is gone"))["seq"])
        acked[dan_gone] = "dan is gone"
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await load
    for chatter in chatters:
        assert chatter.refused == []
        # both processes kept acknowledging while Redis was gone
        assert chatter.acked_between(killed, back) >= outage_s
        acked.update(chatter.acked)

    wanted = set(acked)
    for client in (fac, ben, ana):
        await client.wait_for(
            lambda c=client: wanted <= set(c.inbox.get(group, {})),
            within=max(0.5, back + CATCH_UP_S - time.monotonic()),
        )
        for seq in wanted:
            assert client.inbox[group][seq].text == acked[seq]
    for client in (ben, ana):  # each message pushed to a socket at most once
        repeated = [s for s, n in collections.Counter(deliveries(client, group)).items() if n > 1]
        assert repeated == []
    assert not [seq for seq in eve.inbox.get(group, {}) if seq >= eve_gone]
    assert not [seq for seq in dan.inbox.get(group, {}) if seq >= dan_gone]
    assert redis_server.subscribers() == {"hearth-cluster": 2, "hearth-socketio": 2}
    check_logs(one, two)


async def test_rate_limits_count_locally_while_redis_is_away(
    redis_server: RestartableRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Per-account buckets live in Redis; without it they count in the process, nobody waits on
    a Redis known to be away, and they go back to Redis once it answers again."""
    buckets = RedisAccountBuckets(redis_server.url)
    rule = Rule("messages", per_ms=1 / 60_000, burst=2)
    account = bytes(32)
    key = f"hearth:limit:messages:{account.hex()}"
    try:
        assert [await buckets.take(rule, account, 0) for _ in range(2)] == [0, 0]
        assert await buckets.take(rule, account, 0) > 0  # the budget is Redis'

        redis_server.pause()  # stalled: the first call gives up after the command timeout ...
        taking = buckets.take(rule, account, 0)
        assert await asyncio.wait_for(taking, STALLED_CALL_S) == 0  # ... counts locally, afresh
        started = time.monotonic()
        assert await buckets.take(rule, account, 0) == 0
        assert await buckets.take(rule, account, 0) > 0  # the local budget is enforced
        assert time.monotonic() - started < 0.5  # ... without waiting on Redis again
        redis_server.resume()
        redis_server.kill()
        assert await buckets.take(rule, account, 0) > 0

        redis_server.start()  # empty: the account's key is gone with the old Redis
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not redis_server.has_key(key):
            await buckets.take(rule, account, 0)
            await asyncio.sleep(0.2)
        assert redis_server.has_key(key)  # counting in Redis again
    finally:
        await buckets.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "hearth.limits"]
    assert len(logged) == 2, logged
    assert "unreachable" in logged[0]
    assert "back" in logged[1]
    assert not any(REDIS_PASSWORD in r.getMessage() for r in caplog.records)
