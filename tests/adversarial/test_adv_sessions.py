"""Sessions under attack: foreign Origins, and facilitator powers that must end at once on
logout, on ``hearth facilitator disable`` and after the idle timeout, also on sockets that are
already open."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto.commits import build_commit
from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from server.client import HearthClient, HearthRefused
from tests.adversarial.adv_support import assert_refusal, serve_with, ws_url
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer, hearth_cli


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_with(tmp_path / "hearth")


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_with(tmp_path / "hearth", "[facilitators]\nsession_idle_minutes = 1\n")


async def logged_in(server: RunningServer) -> HearthClient:
    client = HearthClient(server.url, timeout=20)
    await client.login(FACILITATOR, FACILITATOR_PASSWORD)
    await client.connect()
    return client


def new_group_payload(client: HearthClient) -> dict[str, Any]:
    group_id = os.urandom(16)
    member = MemberKeys.generate()
    commit, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=member,
        roster=[member.entry],
        facilitators=[member.member_id],
    )
    return {
        "group_id": b64encode(group_id),
        "name": "After the session",
        "rules": "none",
        "join_policy": "open",
        "posting_policy": "always",
        "member": client._member_payload(member, "Late Lark"),
        "commit": b64encode(commit.raw),
    }


async def assert_powers_gone(
    client: HearthClient, group: bytes, code: str = "session_ended"
) -> None:
    """On the still-open socket every facilitator-only event answers session_ended (on a new
    socket, which never had a live session, ``forbidden``)."""
    g = b64encode(group)
    # First, before any other event could clear a cached session: creating a group.
    reply = await client.sio.call("group.create", new_group_payload(client), timeout=15)
    assert_refusal(reply, code)
    for event, payload in (
        ("invite.create", {"group_id": g}),
        ("invite.list", {"group_id": g}),
        ("group.update", {"group_id": g, "name": "Taken over"}),
        ("join.decide", {"group_id": g, "member_id": b64encode(os.urandom(16)), "approve": True}),
    ):
        reply = await client.sio.call(event, payload, timeout=15)
        assert_refusal(reply, code)
    listing = await client.call("groups.list", {})
    assert listing["facilitator"] is None, listing


async def test_handshake_from_a_foreign_origin_is_refused(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        for origin in (
            "http://evil.example",
            server.url + ".evil.example",
            "null",
            "http://127.0.0.1",
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url(server), headers={"Origin": origin})
            assert refused.value.status == 403, origin
    # The Python client with a foreign origin cannot connect either.
    client = HearthClient(server.url, origin="http://evil.example", timeout=10)
    try:
        with pytest.raises(Exception):  # noqa: B017,PT011 - any refusal will do; not connected
            await client.connect()
        assert not client.sio.connected
    finally:
        await client.disconnect()
        http = getattr(client.sio.eio, "http", None)
        if http is not None and not http.closed:  # engineio leaves it open after a refusal
            await http.close()


async def test_logout_ends_facilitator_powers_on_an_open_socket(server: RunningServer) -> None:
    fac = await logged_in(server)
    try:
        group = await fac.create_group("Logout circle", pseudonym="Host Heron")
        await fac.create_invite(group)  # works before
        cookie = fac.session_cookie
        status, _ = await fac._http("POST", "/api/facilitator/logout")
        assert status == 200
        fac.session_cookie = cookie  # an attacker who kept the cookie
        status, body = await fac._http("GET", "/api/facilitator/me")
        assert status == 401, body
        await assert_powers_gone(fac, group)
        # A new socket with the old cookie is an ordinary member's.
        await fac.disconnect()
        await fac.connect()
        await assert_powers_gone(fac, group, "forbidden")
    finally:
        await fac.disconnect()


async def test_disable_ends_facilitator_powers_on_an_open_socket(server: RunningServer) -> None:
    fac = await logged_in(server)
    try:
        group = await fac.create_group("Disable circle", pseudonym="Host Heron")
        await fac.create_invite(group)
        result = await asyncio.to_thread(
            hearth_cli, "facilitator", "disable", FACILITATOR, config=server.config_path
        )
        assert result.returncode == 0, result.stderr
        await assert_powers_gone(fac, group)
        status, _ = await fac._http("GET", "/api/facilitator/me")
        assert status == 401
        with pytest.raises(HearthRefused) as refused:
            await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        assert refused.value.code == "bad_credentials"
    finally:
        await fac.disconnect()


@pytest.mark.slow
async def test_idle_session_ends_on_an_open_socket(idle_server: RunningServer) -> None:
    """session_idle_minutes = 1 (the smallest allowed): after 61 s without use the open
    socket's facilitator powers are gone."""
    fac = await logged_in(idle_server)
    try:
        group = await fac.create_group("Idle circle", pseudonym="Host Heron")
        await asyncio.sleep(61)
        await assert_powers_gone(fac, group)
    finally:
        await fac.disconnect()
