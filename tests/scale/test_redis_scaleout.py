"""Two Hearth processes on one database, joined by a real Redis: members on different processes
share a group, chat, are removed and report; killing one process loses no acknowledged message
and the other keeps serving."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient
from tests.conftest import (
    FACILITATOR,
    FACILITATOR_PASSWORD,
    GENEROUS_LIMITS,
    RunningServer,
    free_port,
)

REDIS = shutil.which("redis-server")
if REDIS is None and os.environ.get("CI") == "true":
    raise RuntimeError("redis-server is missing in CI: .ci/run installs it")
pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (Debian: apt-get install -y redis-server)"
)


@dataclass
class Redis:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    assert REDIS is not None
    port = free_port()
    process = subprocess.Popen(
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield Redis(f"redis://127.0.0.1:{port}/0", process)
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class SharedDatabaseServer(RunningServer):
    """A second process on the first one's database and secret key."""

    shared_with: Path | None = None

    def write_config(self) -> None:
        super().write_config()
        if self.shared_with is not None:
            (self.directory / "secret.key").write_text(
                (self.shared_with / "secret.key").read_text()
            )
            text = self.config_path.read_text().replace(
                'database = "hearth.sqlite3"', f'database = "{self.shared_with / "hearth.sqlite3"}"'
            )
            self.config_path.write_text(text)


@pytest.fixture
def two_servers(tmp_path: Path, redis: Redis) -> Iterator[tuple[RunningServer, RunningServer]]:
    scale = f'[scale]\nredis_url = "{redis.url}"\n' + GENEROUS_LIMITS
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


@pytest.fixture
async def clients() -> AsyncIterator[list[HearthClient]]:
    made: list[HearthClient] = []
    yield made
    for client in made:
        await client.disconnect()


async def group_across(
    one: RunningServer, two: RunningServer, clients: list[HearthClient], policy: str = "always"
) -> tuple[HearthClient, HearthClient, HearthClient, bytes]:
    """Facilitator fac and member ben on process one, member ana on process two, one group."""
    fac = HearthClient(one.url)
    ana = HearthClient(two.url)
    ben = HearthClient(one.url)
    clients.extend([fac, ana, ben])
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac.connect()
    group = await fac.create_group(
        "Across processes", pseudonym="Host Heron", posting_policy=policy
    )
    for person, name in ((ana, "Quiet Fox"), (ben, "Calm River")):
        await person.connect()
        await person.join(await fac.create_invite(group), pseudonym=name)
        await fac.decide(group, person.member_id(group))
        epoch = await fac.rotate(group)
        await person.wait_for(lambda p=person, e=epoch: p.keys[group].current == e)
    return fac, ana, ben, group


async def test_two_processes_share_groups_through_redis(
    two_servers: tuple[RunningServer, RunningServer], clients: list[HearthClient]
) -> None:
    one, two = two_servers
    fac, ana, ben, group = await group_across(one, two, clients, "facilitator_present")

    # chat across processes; ana may post because the facilitator is online on the other one
    await ana.send(group, "hello from process two")
    await ben.send(group, "hello from process one")
    for client in (fac, ana, ben):
        await client.wait_for(
            lambda c=client: (
                {"hello from process two", "hello from process one"} <= set(c.texts(group))
            )
        )

    # a report filed on process two reaches the facilitator on process one
    seq = next(s for s, m in ana.inbox[group].items() if m.text == "hello from process one")
    await ana.report(group, seq, "testing reports across processes")
    await fac.wait_for(lambda: any(e == "report.new" for e, _ in fac.events))

    # removing ana (on process two) from process one stops her delivery at once
    await fac.remove(group, ana.member_id(group))
    await ana.wait_for(lambda: any(e == "membership" for e, _ in ana.events))
    epoch = await fac.rotate(group)
    await ben.wait_for(lambda: ben.keys[group].current == epoch)
    await ben.send(group, "ana is gone")
    await fac.wait_for(lambda: "ana is gone" in fac.texts(group))
    assert "ana is gone" not in ana.texts(group)

    # kill process one: what was acknowledged stays, process two keeps serving
    acknowledged = [(await ben.send(group, f"before the crash {i}"))["seq"] for i in range(5)]
    one.kill()
    ben2 = HearthClient(two.url, ben.account)
    clients.append(ben2)
    ben2.keys = ben.keys
    await ben2.connect()
    await ben2.send(group, "after the crash")
    with sqlite3.connect(f"file:{one.database}?mode=ro", uri=True) as conn:
        stored = {row[0] for row in conn.execute("SELECT seq FROM messages")}
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert set(acknowledged) <= stored


async def test_a_burst_on_one_process_reaches_the_other_whole(
    two_servers: tuple[RunningServer, RunningServer], redis: Redis, clients: list[HearthClient]
) -> None:
    """Hundreds of events in flight at once each need Redis (the account's rate limit, the
    broadcast): none may fail or be dropped for want of a connection to it. Redis is paused
    for a moment so that every send of the burst is waiting on it at the same time."""
    one, two = two_servers
    _fac, ana, ben, group = await group_across(one, two, clients)
    texts = {f"burst {i}" for i in range(300)}
    redis.process.send_signal(signal.SIGSTOP)
    try:
        sends = asyncio.gather(*(ana.send(group, text) for text in texts))
        await asyncio.sleep(1.0)
    finally:
        redis.process.send_signal(signal.SIGCONT)
    acks = await sends
    assert len({ack["seq"] for ack in acks}) == 300
    await ben.wait_for(lambda: texts <= set(ben.texts(group)))


async def test_a_process_with_nobody_to_ask_for_a_commit_asks_the_others(
    two_servers: tuple[RunningServer, RunningServer], clients: list[HearthClient]
) -> None:
    """Who rotates (docs/protocol.md §14.2): ben leaves on process one, where nobody else
    holding the epoch is connected; ana, on process two, is asked, once."""
    one, two = two_servers
    fac, ana, ben, group = await group_across(one, two, clients)
    await asyncio.sleep(0.5)
    ana.events.clear()  # (the joins' asks went to the facilitator)
    await fac.disconnect()
    await ben.leave(group)
    await ana.wait_for(lambda: any(e == "rotation.needed" for e, _ in ana.events))
    await asyncio.sleep(1)
    asked = [d for e, d in ana.events if e == "rotation.needed"]
    assert len(asked) == 1
    assert asked[0]["rotator"] == b64encode(ana.member_id(group))
    assert asked[0]["reason"] == "membership"
