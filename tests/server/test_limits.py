"""Rate limits and load shedding: a flooding client is slowed and then cut off while others keep
chatting; a client that never reads is disconnected; an account's connections are capped."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from crypto.challenge import sign_challenge
from crypto.encoding import b64decode, b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, member_in, serve_in
from tests.server.raw_engineio import RawEngineIO

STRICT_LIMITS = (
    "[limits]\n"
    "messages_per_second = 0.2\nmessage_burst = 10\njoins_per_minute = 100\n"
    "max_connections_per_account = 2\n"
)
BACKLOG_LIMITS = (
    "[limits]\nmessages_per_second = 1000.0\nmessage_burst = 1000\njoins_per_minute = 100\n"
    "max_outgoing_backlog = 20\n"
)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", extra_config=STRICT_LIMITS)


@pytest.fixture
def backlog_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", extra_config=BACKLOG_LIMITS)


@pytest.fixture
def hearth_server(request: pytest.FixtureRequest) -> RunningServer:
    """make_client follows whichever server fixture the test asked for."""
    for name in ("strict_server", "backlog_server"):
        if name in request.fixturenames:
            server: RunningServer = request.getfixturevalue(name)
            return server
    raise RuntimeError("ask for strict_server or backlog_server")


async def test_flooder_is_slowed_then_cut_off_while_others_keep_chatting(
    strict_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Flood", pseudonym="Host Heron")
    flooder = await member_in(make_client, fac, group, "Loud Crow")
    calm = await member_in(make_client, fac, group, "Quiet Fox")

    latencies: list[float] = []

    async def calm_member() -> None:
        for index in range(8):
            text = f"calm {index}"
            sent = time.perf_counter()
            await calm.send(group, text)
            await fac.wait_for(lambda t=text: t in fac.texts(group))
            latencies.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.05)

    waits: list[int] = []

    async def flood() -> list[str]:
        outcomes = []
        for index in range(60):
            try:
                await flooder.send(group, f"flood {index}")
                outcomes.append("ok")
            except HearthRefused as refused:
                waits.append(refused.detail.get("retry_after_ms", 0))
                outcomes.append(refused.code)
            except Exception:  # disconnected mid-flood
                outcomes.append("disconnected")
                break
        return outcomes

    outcomes, _ = await asyncio.gather(flood(), calm_member())
    assert outcomes[:10] == ["ok"] * 10  # the burst
    assert "rate_limited" in outcomes
    assert set(outcomes[10:]) <= {"rate_limited", "disconnected"}
    assert waits
    assert all(wait > 0 for wait in waits)
    assert outcomes[-1] == "disconnected" or not flooder.sio.connected
    for _ in range(50):
        if not flooder.sio.connected:
            break
        await asyncio.sleep(0.1)
    assert not flooder.sio.connected
    assert len(latencies) == 8
    print(
        f"\ncalm member delivery latency during the flood: median "
        f"{statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms"
    )


async def test_connections_per_account_are_capped(
    strict_server: RunningServer, make_client: Clients
) -> None:
    first = make_client()
    await first.connect()
    second = HearthClient(strict_server.url, first.account)
    third = HearthClient(strict_server.url, first.account)
    await second.connect()
    with pytest.raises(Exception, match=r"namespaces failed"):
        await third.connect()
    await second.disconnect()
    await third.disconnect()


async def test_never_reading_client_is_disconnected_and_memory_stays_bounded(
    backlog_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Backlog", pseudonym="Host Heron")
    sleeper = await member_in(make_client, fac, group, "Sleepy Owl")
    await sleeper.disconnect()
    async with (
        aiohttp.ClientSession() as http,
        http.get(backlog_server.url + "/api/challenge") as r,
    ):
        challenge = (await r.json())["challenge"]
    raw = RawEngineIO(backlog_server.port, backlog_server.url, receive_buffer=4096)
    answer = raw.connect_namespace(
        {
            "v": 1,
            "account_pk": b64encode(sleeper.account.public),
            "challenge": challenge,
            "sig": b64encode(sign_challenge(sleeper.account, b64decode(challenge))),
        }
    )
    assert answer.startswith("40{"), answer  # connected, and from now on it never reads
    assert backlog_server.process is not None
    before = rss_kib(backlog_server.process.pid)
    big = "x" * 12_000
    for index in range(400):
        await fac.send(group, f"{index} {big}")
        if "outgoing backlog" in backlog_server.log_text():
            break
    await asyncio.sleep(1)
    log = backlog_server.log_text()
    assert "outgoing backlog" in log
    after = rss_kib(backlog_server.process.pid)
    # the server keeps serving everyone else
    await fac.send(group, "still serving")
    print(f"\nserver RSS {before} KiB before, {after} KiB after pushing to a non-reader")
    raw.close()
