"""Helpers for the storage fault tests: a small tmpfs to fill, a server whose database lives on
it (its config and log stay on the ordinary disk, which never fills), and a group to talk in."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.client import HearthClient
from tests.conftest import (
    FACILITATOR,
    FACILITATOR_PASSWORD,
    GENEROUS_LIMITS,
    REPO,
    RunningServer,
    member_in,
)

MIB = 1024 * 1024


@contextlib.contextmanager
def tmpfs(directory: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` MiB mounted on ``directory`` (the tests run as root)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(directory)], check=True
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the disk holding ``directory`` has no byte left; returns it."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as file:
        for chunk in (MIB, 64 * 1024, 4096, 512, 1):
            block = b"\0" * chunk
            while True:
                try:
                    file.write(block)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    return filler


@dataclass
class FaultServer(RunningServer):
    """A ``RunningServer`` with extra ``[server]`` keys and, if given, its database file at
    ``database_at`` (e.g. on a tmpfs)."""

    server_keys: str = ""
    database_at: Path | None = None

    @property
    def database(self) -> Path:
        return self.database_at or self.directory / "hearth.sqlite3"

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text().replace("[server]\n", "[server]\n" + self.server_keys)
        if self.database_at is not None:
            text = text.replace(
                'database = "hearth.sqlite3"', f"database = {json.dumps(str(self.database_at))}"
            )
        self.config_path.write_text(text)


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def storage_config(limits: str = GENEROUS_LIMITS, **storage: int) -> str:
    """Keys for the ``[storage]`` table RunningServer writes last, then ``limits`` (tables)."""
    return "".join(f"{key} = {value}\n" for key, value in storage.items()) + limits


@dataclass
class Chat:
    fac: HearthClient
    member: HearthClient
    group: bytes

    async def close(self) -> None:
        for client in (self.member, self.fac):
            await client.disconnect()


async def chat_on(server: RunningServer) -> Chat:
    """A facilitator and one keyed member in a new group."""
    made: list[HearthClient] = []

    def make() -> HearthClient:
        client = HearthClient(server.url)
        made.append(client)
        return client

    fac = make()
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac.connect()
    group = await fac.create_group("circle", pseudonym="Warm Lantern")
    member = await member_in(make, fac, group, "Quiet Heron")
    return Chat(fac, member, group)


def serve_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it does not end: the return code (never leaves it running)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_until(predicate: Any, within: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
