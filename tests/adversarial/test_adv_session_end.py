"""A facilitator session that ends, ends on every open socket at once, whatever ended it.

For each of the four causes (logout, ``hearth facilitator disable``, ``reset-password``, the
idle timeout), on a real server with the facilitator's real Socket.IO socket left open: a new
report (with its plaintext) and a new join request are not delivered to that socket, it is told
``session.ended``, and every facilitator event on it answers ``session_ended``. The idle
timeout is reached by moving the session's last use back in the SQLite file, as the passing of
an hour would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient
from tests.adversarial.adv_support import assert_refusal, serve_with
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer, hearth_cli, member_in

CANARY = "only facilitators with a live session may read this 7f3a"
NEW_PASSWORD = "a completely different passphrase"
QUIET_S = 1.5  # how long a socket is watched for a delivery that must not come


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_with(tmp_path / "hearth")


async def end_session(cause: str, server: RunningServer, fac: HearthClient) -> None:
    if cause == "logout":
        status, _ = await fac._http("POST", "/api/facilitator/logout")
        assert status == 200
    elif cause == "disable":
        result = await asyncio.to_thread(
            hearth_cli, "facilitator", "disable", FACILITATOR, config=server.config_path
        )
        assert result.returncode == 0, result.stderr
    elif cause == "reset_password":
        result = await asyncio.to_thread(
            hearth_cli,
            "facilitator",
            "reset-password",
            FACILITATOR,
            "--password-stdin",
            config=server.config_path,
            stdin=NEW_PASSWORD + "\n",
        )
        assert result.returncode == 0, result.stderr
    else:
        assert cause == "idle"
        hour_ago = 61 * 60_000  # session_idle_minutes is 60
        with sqlite3.connect(server.database, timeout=10) as conn:
            conn.execute("UPDATE sessions SET last_seen_at = last_seen_at - ?", (hour_ago,))


@pytest.mark.parametrize("cause", ["logout", "disable", "reset_password", "idle"])
async def test_an_ended_session_loses_its_power_on_the_open_socket(
    server: RunningServer, cause: str
) -> None:
    clients: list[HearthClient] = []

    def make() -> HearthClient:
        client = HearthClient(server.url, timeout=20)
        clients.append(client)
        return client

    try:
        fac = make()
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Ending circle", pseudonym="Host Heron")
        late_invite = await fac.create_invite(group)
        ana = await member_in(make, fac, group, "Quiet Fox")
        # Before: the open socket does receive join requests (member_in made one).
        assert any(name == "join.requested" for name, _ in fac.events)
        await fac.send(group, CANARY)
        await ana.wait_for(lambda: CANARY in ana.texts(group))
        seq = next(s for s, m in ana.inbox[group].items() if m.text == CANARY)
        seen = len(fac.events)

        await end_session(cause, server, fac)

        # At once, before any event of the facilitator's: a report and a join request.
        await ana.report(group, seq, "please look at this")
        late = make()
        await late.connect()
        _, state = await late.join(late_invite, pseudonym="Late Lark")
        assert state == "pending"
        await fac.wait_for(lambda: any(n == "session.ended" for n, _ in fac.events), 10)
        await asyncio.sleep(QUIET_S)
        after = [name for name, _ in fac.events[seen:]]
        assert "report.new" not in after, after
        assert "join.requested" not in after, after
        assert CANARY not in repr(fac.events[seen:])

        # Every facilitator event on the open socket answers a clear code.
        g = b64encode(group)
        pending = b64encode(late.member_id(group))
        for event, payload in (
            ("moderation.list", {}),
            ("moderation.list", {"group_id": g}),
            ("invite.create", {"group_id": g}),
            ("invite.list", {"group_id": g}),
            ("join.decide", {"group_id": g, "member_id": pending, "approve": True}),
            ("member.remove", {"group_id": g, "member_id": pending}),
            ("group.update", {"group_id": g, "name": "Taken over"}),
            ("audit.list", {"group_id": g}),
        ):
            reply = await fac.sio.call(event, payload, timeout=15)
            assert_refusal(reply, "session_ended")
        # As the member it also is, it sees active members only: not the pending one.
        listing = await fac.call("members.list", {"group_id": g})
        assert pending not in {m["member_id"] for m in listing["members"]}
        assert (await fac.call("groups.list", {}))["facilitator"] is None
    finally:
        for client in clients:
            await client.disconnect()
