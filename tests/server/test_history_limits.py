"""history.get from a client that never reads: rate limited, a few pages in flight per socket,
and the socket's outgoing backlog bounded in bytes (server/realtime/history_limits.py,
fanout.OutgoingQueue). A raw websocket with a small receive buffer asks for many pages of large
messages and reads none of the answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from crypto.challenge import sign_challenge
from crypto.encoding import b64decode, b64encode
from server.client import HearthClient
from tests.conftest import Clients, RunningServer, facilitator, serve_in
from tests.server.raw_engineio import RawEngineIO
from tests.server.test_limits import rss_kib

SETUP_LIMITS = (
    "[limits]\nmessages_per_second = 1000.0\nmessage_burst = 1000\njoins_per_minute = 100\n"
)
BIG = "x" * 15_000  # near the largest content (16,380 bytes): a page of 100 is ~2 MB of JSON
STORED = 100


@pytest.fixture
def default_history_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", extra_config=SETUP_LIMITS)


@pytest.fixture
def byte_bound_server(tmp_path: Path) -> Iterator[RunningServer]:
    # The history limits out of the way, so that only the byte bound can stop the socket.
    yield from serve_in(
        tmp_path / "hearth",
        extra_config=SETUP_LIMITS
        + "history_pages_per_minute = 10000\nhistory_burst = 10000\n"
        + "max_outgoing_backlog_bytes = 4194304\n",
    )


@pytest.fixture
def hearth_server(request: pytest.FixtureRequest) -> RunningServer:
    """make_client follows whichever server fixture the test asked for."""
    for name in ("default_history_server", "byte_bound_server"):
        if name in request.fixturenames:
            server: RunningServer = request.getfixturevalue(name)
            return server
    raise RuntimeError("ask for a server fixture")


async def group_with_big_history(make_client: Clients) -> tuple[HearthClient, bytes]:
    fac = await facilitator(make_client)
    group = await fac.create_group("Long history", pseudonym="Host Heron")
    for index in range(STORED):
        await fac.send(group, f"{index} {BIG}")
    return fac, group


async def non_reader(server: RunningServer, fac: HearthClient) -> RawEngineIO:
    """The facilitator's account (a keyed member) on a second socket that will never read."""
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/challenge") as r:
        challenge = (await r.json())["challenge"]
    raw = RawEngineIO(server.port, server.url, receive_buffer=4096)
    answer = raw.connect_namespace(
        {
            "v": 1,
            "account_pk": b64encode(fac.account.public),
            "challenge": challenge,
            "sig": b64encode(sign_challenge(fac.account, b64decode(challenge))),
        }
    )
    assert answer.startswith("40{"), answer
    return raw


def history_request(ack: int, group: bytes) -> str:
    return f"42{ack}" + json.dumps(["history.get", {"group_id": b64encode(group), "limit": 200}])


async def test_unread_history_requests_are_refused_and_memory_stays_bounded(
    default_history_server: RunningServer, make_client: Clients
) -> None:
    server = default_history_server
    fac, group = await group_with_big_history(make_client)
    raw = await non_reader(server, fac)
    assert server.process is not None
    before = rss_kib(server.process.pid)
    for ack in range(1, 121):
        raw.send_text(history_request(ack, group))
    await asyncio.sleep(3)
    after = rss_kib(server.process.pid)
    print(f"\nserver RSS {before} KiB before, {after} KiB after 120 unread history.get")
    # Today's code answered all 120 (~250 MB queued for one socket).
    assert after - before < 80_000, (before, after)
    # The refusals need no database read: they are answered before any page.
    first = await asyncio.to_thread(lambda: [raw.read_text() for _ in range(3)])
    assert any('"rate_limited"' in text for text in first), [t[:80] for t in first]
    raw.close()
    # Refused past the burst (rate_limited), then cut off as a flood.
    assert "kept exceeding its history limit" in server.log_text()
    # Everyone else is still served.
    reply = await fac.call("history.get", {"group_id": b64encode(group), "limit": 1})
    assert len(reply["messages"]) == 1


async def test_a_socket_past_its_byte_bound_is_disconnected(
    byte_bound_server: RunningServer, make_client: Clients
) -> None:
    server = byte_bound_server
    fac, group = await group_with_big_history(make_client)
    raw = await non_reader(server, fac)
    # One at a time, each well within the rate limit and the pages in flight: only the bytes
    # of the answers it does not read pile up (max_outgoing_backlog, in packets, stays 1000).
    for ack in range(1, 41):
        raw.send_text(history_request(ack, group))
        await asyncio.sleep(0.1)
        if "outgoing backlog" in server.log_text():
            break
    await asyncio.sleep(1)
    assert "outgoing backlog passed its limit" in server.log_text()
    raw.close()
    reply = await fac.call("history.get", {"group_id": b64encode(group), "limit": 1})
    assert len(reply["messages"]) == 1
