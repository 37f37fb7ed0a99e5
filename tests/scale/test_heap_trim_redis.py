"""Two Hearth processes joined by a real Redis: a process whose members are being sent messages
accepted by the other process is busy too, and gives a wave's memory back only once they pause
(server/heaptrim.py). It once counted only the messages it accepted itself, so it ran its
50–75 ms full pass in the middle of a conversation relayed from the other process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.client import HearthClient
from tests.conftest import GENEROUS_LIMITS, RunningServer, free_port
from tests.scale.test_redis_scaleout import (  # noqa: F401 - the fixture
    Redis,
    SharedDatabaseServer,
    group_across,
    redis,
)
from tests.server.raw_engineio import RawEngineIO

WAVE = 80  # more than the trimmer's MIN_DROP (64)
RELEASED = "memory released after"


@pytest.fixture
def two_servers(
    tmp_path: Path,
    redis: Redis,  # noqa: F811 - the fixture
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """At debug level, where the trimmer logs."""
    scale = f'[scale]\nredis_url = "{redis.url}"\n' + GENEROUS_LIMITS
    first = SharedDatabaseServer(tmp_path / "one", free_port(), scale, log_level="debug")
    first.add_facilitator()
    first.start()
    second = SharedDatabaseServer(
        tmp_path / "two", free_port(), scale, log_level="debug", shared_with=first.directory
    )
    second.start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[HearthClient]]:
    made: list[HearthClient] = []
    yield made
    for client in made:
        await client.disconnect()


async def test_a_process_relaying_another_ones_messages_waits_for_the_pause(
    two_servers: tuple[RunningServer, RunningServer], clients: list[HearthClient]
) -> None:
    one, two = two_servers
    fac, ana, _ben, group = await group_across(one, two, clients)  # ana is on process two
    wave = [RawEngineIO(two.port, two.url) for _ in range(WAVE)]
    for raw in wave:
        assert raw.read_text().startswith("0")  # Engine.IO open: process two holds it

    async def talk(seconds: float) -> int:
        sent, until = 0, time.monotonic() + seconds
        while time.monotonic() < until:
            await fac.send(group, f"line {sent}")  # accepted by process one
            sent += 1
            await asyncio.sleep(0.02)
        return sent

    talking = asyncio.create_task(talk(8.0))  # ~40 messages a second, relayed to ana
    await asyncio.sleep(1.0)
    for raw in wave:
        raw.close()
    sent = await talking
    assert sent > 8 * 25
    await ana.wait_for(lambda: f"line {sent - 1}" in ana.texts(group))
    assert RELEASED not in two.log_text()

    deadline = time.monotonic() + 10
    while RELEASED not in two.log_text():
        assert time.monotonic() < deadline, "memory not given back once the talk paused"
        await asyncio.sleep(0.2)
    assert f"{RELEASED} {WAVE} connections closed" in two.log_text()
