"""Shared test fixtures: a real Hearth server in its own process on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server.client import HearthClient

# The throwaway PostgreSQL cluster and the two storage backends (tests/storage_backends.py).
pytest_plugins = ["tests.storage_backends"]

REPO = Path(__file__).resolve().parents[1]
FACILITATOR = "alice"
FACILITATOR_PASSWORD = "correct horse battery staple"
# Tests drive many messages from one account; tests of the limits set their own.
GENEROUS_LIMITS = (
    "[limits]\nmessages_per_second = 1000.0\nmessage_burst = 1000\n"
    "joins_per_minute = 1000\nreports_per_hour = 1000\n"
    "history_pages_per_minute = 10000\nhistory_burst = 10000\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hearth_cli(
    *args: str, config: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


@dataclass
class RunningServer:
    """One ``hearth serve`` process with its own directory, database and log file."""

    directory: Path
    port: int
    extra_config: str = ""
    server_config: str = ""  # more keys of its [server] section
    log_level: str = "info"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "config.toml"

    @property
    def database(self) -> Path:
        return self.directory / "hearth.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = self.directory / "secret.key"
        if not key.exists():
            key.write_text(os.urandom(32).hex())
            key.chmod(0o600)
        self.config_path.write_text(
            "[server]\n"
            f"port = {self.port}\n"
            f'public_origins = ["{self.url}"]\n'
            'secret_key_file = "secret.key"\n'
            f'log_level = "{self.log_level}"\n' + self.server_config + "[storage]\n"
            'database = "hearth.sqlite3"\n'
            # A small disk-full reserve: the suite starts many servers, each would take 16 MiB.
            + ("" if "reserve_mb" in self.extra_config else "reserve_mb = 1\n")
            + (self.extra_config or GENEROUS_LIMITS)
        )

    def start(self) -> None:
        self.write_config()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not come up:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as in a crash or power cut of the process."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def add_facilitator(
        self, name: str = FACILITATOR, password: str = FACILITATOR_PASSWORD
    ) -> None:
        self.write_config()
        result = hearth_cli(
            "facilitator",
            "add",
            name,
            "--password-stdin",
            config=self.config_path,
            stdin=password + "\n",
        )
        assert result.returncode == 0, result.stderr

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def serve_in(
    directory: Path, extra_config: str = "", server_config: str = "", log_level: str = "info"
) -> Iterator[RunningServer]:
    server = RunningServer(directory, free_port(), extra_config, server_config, log_level)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hearth_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server for one test."""
    yield from serve_in(tmp_path / "hearth")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for a whole module, for tests that each leave no state another could see."""
    yield from serve_in(tmp_path_factory.mktemp("hearth"))


Clients = Callable[[], HearthClient]


@pytest.fixture
async def make_client(hearth_server: RunningServer) -> AsyncIterator[Clients]:
    """Makes clients of ``hearth_server``, each with a fresh account key; disconnects them."""
    made: list[HearthClient] = []

    def make() -> HearthClient:
        client = HearthClient(hearth_server.url)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.disconnect()


async def facilitator(make_client: Clients) -> HearthClient:
    client = make_client()
    await client.login(FACILITATOR, FACILITATOR_PASSWORD)
    await client.connect()
    return client


async def member_in(
    make_client: Clients, fac: HearthClient, group: bytes, name: str
) -> HearthClient:
    """A member who joined with an invite, was approved and is keyed into a new epoch."""
    client = make_client()
    await client.connect()
    token = await fac.create_invite(group)
    joined, state = await client.join(token, pseudonym=name)
    assert joined == group
    assert state == "pending"
    await fac.decide(group, client.member_id(group))
    await fac.rotate(group)
    await client.wait_for(lambda: client.keys[group].current == fac.keys[group].current)
    return client
