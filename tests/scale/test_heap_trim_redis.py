"""Two Hearth processes joined by a real Redis: a process whose members are being sent messages
accepted by the other process is busy too, and gives a wave's memory back only once they pause
(server/heaptrim.py). It once counted only the messages it accepted itself, so it ran its
50–75 ms full pass in the middle of a conversation relayed from the other process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.client import HearthClient
from tests.conftest import RunningServer
from tests.faults.redis_support import two_processes
from tests.scale.test_redis_scaleout import (  # noqa: F401 - the fixtures
    Redis,
    clients,
    group_across,
    redis,
)
from tests.server.test_heap_trim_serve import RELEASED, released_once_quiet, talk_through_a_wave


@pytest.fixture
def two_servers(
    tmp_path: Path,
    redis: Redis,  # noqa: F811 - the fixture
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """At debug level, where the trimmer logs."""
    yield from two_processes(tmp_path, redis.url, log_level="debug")


async def test_a_process_relaying_another_ones_messages_waits_for_the_pause(
    two_servers: tuple[RunningServer, RunningServer],
    clients: list[HearthClient],  # noqa: F811 - the fixture
) -> None:
    one, two = two_servers
    fac, ana, _ben, group = await group_across(one, two, clients)  # ana is on process two
    # The facilitator, on process one, talks; process two relays it to ana while its wave closes.
    sent = await talk_through_a_wave(two, fac, group)
    await ana.wait_for(lambda: f"line {sent - 1}" in ana.texts(group))
    assert RELEASED not in two.log_text()
    await released_once_quiet(two)
