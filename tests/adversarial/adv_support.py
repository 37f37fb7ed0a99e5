"""Helpers shared by the adversarial tests: a raw Engine.IO/Socket.IO speaker, database probes
and a small world (facilitator, group, members) built on a live server."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from crypto.challenge import sign_challenge
from crypto.encoding import b64decode, b64encode
from crypto.keys import SigningKey
from server.client import HearthClient
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer, free_port, member_in

# Rate limits are not what these tests are about: keep them out of the way (they have their own
# tests). Appended to the [storage] section that RunningServer writes last.
GENEROUS_LIMITS = (
    "[limits]\n"
    "messages_per_second = 10000.0\n"
    "message_burst = 100000\n"
    "joins_per_minute = 100000\n"
    "max_connections_per_account = 100\n"
    "history_pages_per_minute = 10000\n"
    "history_burst = 10000\n"
)

CLOSED = "closed"
TIMEOUT = "timeout"


def ws_url(server: RunningServer) -> str:
    return f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"


async def challenge_auth(url: str, account: SigningKey, **override: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(url + "/api/challenge") as response:
        body = await response.json()
    auth: dict[str, Any] = {
        "v": 1,
        "account_pk": b64encode(account.public),
        "challenge": body["challenge"],
        "sig": b64encode(sign_challenge(account, b64decode(body["challenge"]))),
    }
    auth.update(override)
    return auth


@dataclass
class RawSocket:
    """A websocket that speaks Engine.IO v4 / Socket.IO v5 framing by hand."""

    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    open_packet: dict[str, Any]
    next_id: int = 1
    pushed: list[str] = field(default_factory=list)

    @classmethod
    async def open(
        cls,
        server: RunningServer,
        *,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawSocket:
        http = aiohttp.ClientSession()
        all_headers = {"Origin": origin or server.url, **(headers or {})}
        try:
            ws = await http.ws_connect(ws_url(server), headers=all_headers)
            first = await asyncio.wait_for(ws.receive(), 10)
        except BaseException:
            await http.close()
            raise
        assert first.type == aiohttp.WSMsgType.TEXT, first
        assert first.data.startswith("0"), first
        return cls(http, ws, json.loads(first.data[1:]))

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def receive(self, within: float = 3.0) -> str:
        """The next Socket.IO packet (pings are answered), ``CLOSED`` or ``TIMEOUT``."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return TIMEOUT
            try:
                message = await asyncio.wait_for(self.ws.receive(), left)
            except TimeoutError:
                return TIMEOUT
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.ERROR,
            ):
                return CLOSED
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            if message.data == "2":
                await self.ws.send_str("3")
                continue
            return str(message.data)

    async def connect(self, auth: Any, namespace: str = "") -> str:
        prefix = f"40{namespace}," if namespace else "40"
        await self.send(prefix + ("" if auth is None else json.dumps(auth)))
        return await self.receive(10)

    async def call_text(self, body: str, within: float = 5.0) -> Any:
        """Sends ``42<id>`` + body (JSON array text, verbatim); the ack's payload or a marker."""
        ack = self.next_id
        self.next_id += 1
        await self.send(f"42{ack}{body}")
        while True:
            packet = await self.receive(within)
            if packet in (CLOSED, TIMEOUT):
                return packet
            if packet.startswith(f"43{ack}["):
                return json.loads(packet[len(f"43{ack}") :])[0]
            self.pushed.append(packet)

    async def call(self, event: str, payload: Any, within: float = 5.0) -> Any:
        return await self.call_text(json.dumps([event, payload]), within)


async def raw_connected(server: RunningServer, account: SigningKey | None = None) -> RawSocket:
    raw = await RawSocket.open(server)
    reply = await raw.connect(await challenge_auth(server.url, account or SigningKey.generate()))
    assert reply.startswith("40{"), reply
    return raw


def read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)


def tables(database: Path) -> list[str]:
    with read_only(database) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return sorted(r[0] for r in rows)


def snapshot(database: Path) -> dict[str, Any]:
    """Row counts of every table, plus the invite use counters."""
    with read_only(database) as conn:
        found: dict[str, Any] = {}
        for table in tables(database):
            found[table] = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        found["invites.uses"] = conn.execute(
            "SELECT COALESCE(SUM(uses), 0) FROM invites"
        ).fetchone()[0]
    return found


def integrity(database: Path) -> str:
    with read_only(database) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def assert_refusal(reply: Any, code: str | tuple[str, ...]) -> None:
    codes = (code,) if isinstance(code, str) else code
    assert isinstance(reply, dict), reply
    assert reply.get("ok") is False, reply
    error = reply.get("error")
    assert isinstance(error, dict), reply
    assert error.get("code") in codes, reply
    message = error.get("message")
    assert isinstance(message, str), reply
    assert message.strip(), reply
    assert "Traceback" not in message, reply
    assert 'File "' not in message, reply


@dataclass
class World:
    """A facilitator running one group with two keyed members, plus a second group."""

    server: RunningServer
    fac: HearthClient
    group: bytes
    ana: HearthClient
    bob: HearthClient
    other_group: bytes
    outsider: HearthClient
    clients: list[HearthClient]

    async def close(self) -> None:
        for client in self.clients:
            await client.disconnect()


async def build_world(server: RunningServer, user_agent: str | None = None) -> World:
    clients: list[HearthClient] = []

    def make() -> HearthClient:
        client = HearthClient(server.url, timeout=20)
        clients.append(client)
        return client

    fac = make()
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac.connect()
    group = await fac.create_group("Adversarial circle", pseudonym="Host Heron")
    ana = await member_in(make, fac, group, "Quiet Fox")
    bob = await member_in(make, fac, group, "Brave Owl")
    other_group = await fac.create_group("Other circle", pseudonym="Host Heron")
    outsider = make()
    await outsider.connect()
    return World(server, fac, group, ana, bob, other_group, outsider, clients)


def random_id() -> bytes:
    return os.urandom(16)


def serve_with(directory: Path, extra_config: str = "") -> Iterator[RunningServer]:
    """Like ``tests.conftest.serve_in`` with extra configuration (generous limits by default)."""
    server = RunningServer(directory, free_port(), extra_config=extra_config + GENEROUS_LIMITS)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()
