"""Helpers for the config, CLI and facilitator-login tests (imported, not a conftest)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Literal

import uvicorn
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[2]


def fast_hasher() -> PasswordHasher:
    """argon2id with tiny costs: the tests check behaviour, not hardness."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def write_config(directory: Path, toml: str = "") -> Path:
    """A config file plus a valid secret key (mode 600) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "secret.key"
    if not key.exists():
        key.write_text(secrets.token_hex(32) + "\n")
        key.chmod(0o600)
    path = directory / "config.toml"
    path.write_text(toml)
    return path


class CountingHasher(PasswordHasher):
    """Records how many verifications run at the same time."""

    def __init__(self, pause: float = 0.0) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.pause = pause
        self.running = 0
        self.most_at_once = 0
        self.verifications = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.running += 1
            self.verifications += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.pause)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@dataclass
class FakeClock:
    now: int = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, *, minutes: float = 0, hours: float = 0) -> None:
        self.now += int(minutes * 60_000 + hours * 3_600_000)


@asynccontextmanager
async def serve_routes(routes: list[Route]) -> AsyncIterator[str]:
    """A real uvicorn on 127.0.0.1 (ephemeral port) in this event loop; yields its base URL."""
    config = uvicorn.Config(
        Starlette(routes=routes),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def set_cookies(headers: list[str]) -> dict[str, dict[str, str]]:
    """Set-Cookie headers as {name: {"value": ..., attribute (lower case): value}}."""
    found: dict[str, dict[str, str]] = {}
    for header in headers:
        name_value, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = name_value.partition("=")
        cookie = {"value": value}
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            cookie[key.lower()] = val or "true"
        found[name] = cookie
    return found


def cookie_header(name: str, value: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    return {"Cookie": jar.output(header="", attrs=[]).strip()}


def run_cli(
    *args: str, cwd: Path, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real ``hearth`` command, as ``python -m server.cli``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=env,
    )
