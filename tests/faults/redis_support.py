"""Two ``hearth serve`` processes on one database, joined by a real redis-server that a test can
kill and start again on the same port, or stop and continue (SIGSTOP/SIGCONT)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
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
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (Debian: apt-get install -y redis-server)"
)
# Redis with a password, so that the tests can check it is never logged.
REDIS_PASSWORD = "not-in-any-log-3f9a"
BUS_CHANNELS = ("hearth-cluster", "hearth-socketio")


@dataclass
class RestartableRedis:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS is not None
        self.process = subprocess.Popen(
            [
                REDIS,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--requirepass", REDIS_PASSWORD,
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not come up")

    def kill(self) -> None:
        """SIGKILL: every connection is cut, nothing listens on the port until :meth:`start`."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=REDIS_PASSWORD, socket_timeout=2)

    def has_key(self, key: str) -> bool:
        client = self.client()
        try:
            return bool(client.exists(key))
        finally:
            client.close()

    def subscribers(self) -> dict[str, int]:
        """PUBSUB NUMSUB of Hearth's channels."""
        client = self.client()
        try:
            return {
                (name.decode() if isinstance(name, bytes) else str(name)): int(count)
                for name, count in client.pubsub_numsub(*BUS_CHANNELS)
            }
        finally:
            client.close()

    async def wait_for_subscribers(self, count: int, within: float) -> float:
        """Wait until every process has subscribed again; returns how long it took."""
        started = time.monotonic()
        while True:
            try:
                if all(n == count for n in self.subscribers().values()):
                    return time.monotonic() - started
            except redis.RedisError:
                pass
            if time.monotonic() - started > within:
                raise AssertionError(f"subscribers after {within} s: {self.subscribers()}")
            await asyncio.sleep(0.1)


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


def two_processes(
    directory: Path, redis_url: str, log_level: str = "info"
) -> Iterator[tuple[RunningServer, RunningServer]]:
    scale = f'[scale]\nredis_url = "{redis_url}"\n' + GENEROUS_LIMITS
    first = SharedDatabaseServer(directory / "one", free_port(), scale, log_level=log_level)
    first.add_facilitator()
    first.start()
    second = SharedDatabaseServer(
        directory / "two", free_port(), scale, log_level=log_level, shared_with=first.directory
    )
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


async def facilitated_group(
    fac_server: RunningServer, clients: list[HearthClient], policy: str = "always"
) -> tuple[HearthClient, bytes]:
    fac = HearthClient(fac_server.url)
    clients.append(fac)
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac.connect()
    group = await fac.create_group(
        "Across an outage", pseudonym="Host Heron", posting_policy=policy
    )
    return fac, group


async def admit(
    fac: HearthClient, group: bytes, server: RunningServer, name: str, clients: list[HearthClient]
) -> HearthClient:
    """A member connected to ``server``, approved by ``fac`` and keyed by fac's rotation."""
    person = HearthClient(server.url)
    clients.append(person)
    await person.connect()
    await person.join(await fac.create_invite(group), pseudonym=name)
    await fac.decide(group, person.member_id(group))
    epoch = await fac.rotate(group)
    await person.wait_for(lambda: person.keys[group].current == epoch)
    return person


@dataclass
class Chatter:
    """A member who sends a message every ``interval`` seconds and keeps what was acknowledged
    (seq → text) and every refusal."""

    client: HearthClient
    group: bytes
    name: str
    interval: float = 0.1
    acked: dict[int, str] = field(default_factory=dict)
    acked_at: list[float] = field(default_factory=list)  # time.monotonic() of each ack
    refused: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            text = f"{self.name} {n}"
            n += 1
            try:
                ack = await self.client.send(self.group, text)
            except (HearthRefused, TimeoutError) as error:
                self.refused.append(f"{text}: {error!r}")
            else:
                self.acked[int(ack["seq"])] = text
                self.acked_at.append(time.monotonic())
            await asyncio.sleep(self.interval)

    def acked_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.acked_at)


def deliveries(client: HearthClient, group: bytes) -> list[int]:
    """Every seq of the group the server pushed to this client, repeats included."""
    wanted = b64encode(group)
    seqs: list[int] = []
    for event, data in client.events:
        if event == "msg" and data["group_id"] == wanted:
            seqs.append(int(data["seq"]))
        elif event == "msg.batch" and data["group_id"] == wanted:
            seqs.extend(int(view["seq"]) for view in data["messages"])
    return seqs
