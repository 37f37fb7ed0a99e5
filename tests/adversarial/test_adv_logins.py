"""Facilitator logins under a guessing attack from many addresses: the real facilitator, from
their own address, still gets in; the guessing stays bounded.

Other sources are simulated as a reverse proxy on loopback would present them: the server
trusts 127.0.0.1 as a proxy (``[server] trusted_proxies``) and believes its X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher

from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer, free_port

LOGIN = "/api/facilitator/login"
WRONG = {"username": FACILITATOR, "password": "not the password at all"}
RIGHT = {"username": FACILITATOR, "password": FACILITATOR_PASSWORD}


class BehindProxy(RunningServer):
    """A RunningServer that believes X-Forwarded-For from a proxy on 127.0.0.1."""

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        self.config_path.write_text(
            text.replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.1"]\n', 1)
        )


def serve_behind_proxy(directory: Path, extra_config: str = "") -> Iterator[RunningServer]:
    server = BehindProxy(directory, free_port(), extra_config)
    server.add_facilitator()
    # A cheap argon2id hash in place of the default (64 MiB, t=3), written to the file before
    # the server starts: dozens of failed logins then take seconds; what is limited is the same.
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(FACILITATOR_PASSWORD)
    with sqlite3.connect(server.database) as conn:
        conn.execute("UPDATE facilitators SET password_hash = ?", (cheap,))
    conn.close()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_behind_proxy(tmp_path / "hearth")


@pytest.fixture
def tight_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_behind_proxy(
        tmp_path / "hearth", "[facilitators]\nlogin_attempts_per_username_per_minute = 5\n"
    )


async def login(
    http: aiohttp.ClientSession, server: RunningServer, body: dict[str, str], source: str | None
) -> int:
    headers = {"Origin": server.url}
    if source is not None:
        headers["X-Forwarded-For"] = source
    async with http.post(server.url + LOGIN, json=body, headers=headers) as response:
        await response.read()
        return response.status


def other_source(index: int) -> str:
    return f"198.51.100.{index + 1}"  # a documentation range: only ever a header value here


async def test_failures_from_other_sources_do_not_lock_the_facilitator_out(
    server: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as http:
        statuses = [await login(http, server, WRONG, other_source(i)) for i in range(30)]
        assert statuses == [401] * 30
        # The real facilitator, from their own address (the proxy's own requests: no header).
        assert await login(http, server, RIGHT, None) == 200
        # One source still has its own budget (10 a minute): it is not the whole world's.
        # Sent at once, so that the bucket cannot refill in between on a slow machine.
        again = await asyncio.gather(
            *(login(http, server, WRONG, other_source(0)) for _ in range(15))
        )
        assert 429 in again, again
        assert await login(http, server, RIGHT, None) == 200
    assert "198.51.100" not in server.log_text()


async def test_guessing_from_many_sources_is_bounded_but_a_known_source_gets_in(
    tight_server: RunningServer,
) -> None:
    server = tight_server
    async with aiohttp.ClientSession() as http:
        assert await login(http, server, RIGHT, "203.0.113.7") == 200  # the usual place
        statuses = [await login(http, server, WRONG, other_source(i)) for i in range(8)]
        # 5 a minute for the username from every source together, then refused unhashed.
        assert statuses == [401] * 4 + [429] * 4, statuses
        assert await login(http, server, RIGHT, other_source(50)) == 429  # a new place waits
        assert await login(http, server, RIGHT, "203.0.113.7") == 200  # the usual place does not
    assert "203.0.113" not in server.log_text()
