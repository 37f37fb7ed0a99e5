"""Two Hearth processes joined by a real Redis: a facilitator session ended on one process or
by the command line ends at once on a socket open on the other, without waiting for the periodic
re-check (set to ten minutes here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.client import HearthClient
from tests.conftest import (
    FACILITATOR,
    FACILITATOR_PASSWORD,
    GENEROUS_LIMITS,
    RunningServer,
    free_port,
    hearth_cli,
)
from tests.scale.test_redis_scaleout import Redis, SharedDatabaseServer, redis  # noqa: F401

SLOW_RECHECK = "[facilitators]\nsession_check_seconds = 600\n"


@pytest.fixture
def two_slow_servers(
    tmp_path: Path,
    redis: Redis,  # noqa: F811 - the fixture
) -> Iterator[tuple[RunningServer, RunningServer]]:
    scale = f'[scale]\nredis_url = "{redis.url}"\n' + SLOW_RECHECK + GENEROUS_LIMITS
    first = SharedDatabaseServer(tmp_path / "one", free_port(), scale)
    first.add_facilitator()
    first.start()
    second = SharedDatabaseServer(tmp_path / "two", free_port(), scale, shared_with=first.directory)
    second.start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


async def facilitator_on(server: RunningServer) -> HearthClient:
    client = HearthClient(server.url, timeout=20)
    await client.login(FACILITATOR, FACILITATOR_PASSWORD)
    await client.connect()
    return client


def ended(client: HearthClient) -> bool:
    return any(name == "session.ended" for name, _ in client.events)


async def test_logout_on_one_process_ends_the_socket_on_the_other(
    two_slow_servers: tuple[RunningServer, RunningServer],
) -> None:
    first, second = two_slow_servers
    fac = await facilitator_on(second)
    try:
        await fac.create_group("Across processes", pseudonym="Host Heron")
        cookie = fac.session_cookie
        other = HearthClient(first.url, timeout=20)
        other.session_cookie = cookie  # the same session, logged out through the first process
        status, _ = await other._http("POST", "/api/facilitator/logout")
        assert status == 200
        await fac.wait_for(lambda: ended(fac), 10)
        assert (await fac.call("groups.list", {}))["facilitator"] is None
    finally:
        await fac.disconnect()


async def test_disabling_from_the_command_line_reaches_every_process_through_redis(
    two_slow_servers: tuple[RunningServer, RunningServer],
) -> None:
    first, second = two_slow_servers
    fac = await facilitator_on(second)
    try:
        await fac.create_group("Disabled across processes", pseudonym="Host Heron")
        result = await asyncio.to_thread(
            hearth_cli, "facilitator", "disable", FACILITATOR, config=first.config_path
        )
        assert result.returncode == 0, result.stderr
        assert "told through Redis" in result.stdout
        await fac.wait_for(lambda: ended(fac), 10)
    finally:
        await fac.disconnect()
