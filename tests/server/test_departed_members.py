"""Nothing left behind: once a membership ends, the database no longer links the account to the
group (a leaked backup must not show that one person was in two groups), yet a ban on a report
about the departed member's message still lands on the right account until that message is
purged. Real server, real Socket.IO clients, the real SQLite file and ``hearth purge``."""

from __future__ import annotations

import base64
import sqlite3
from typing import Any

import pytest
import socketio

from tests.conftest import Clients, RunningServer, facilitator, hearth_cli, member_in

DAY_MS = 86_400_000


def places_naming(server: RunningServer, account_pk: bytes) -> list[tuple[str, tuple[Any, ...]]]:
    """Every (table, row) of the database file in which the account key appears in any form."""
    forms = (account_pk, account_pk.hex().encode(), base64.b64encode(account_pk)[:40])
    found = []
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in names:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608
                for value in row:
                    raw = value.encode() if isinstance(value, str) else value
                    if isinstance(raw, bytes) and any(form in raw for form in forms):
                        found.append((table, tuple(row)))
                        break
    return found


def banned_accounts(server: RunningServer) -> list[bytes]:
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as conn:
        return [bytes(r[0]) for r in conn.execute("SELECT account_pk FROM accounts WHERE banned")]


def member_rows(server: RunningServer, group: bytes) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as conn:
        return list(
            conn.execute(
                "SELECT member_id, state, account_pk, account_seal FROM members "
                "WHERE group_id = ? ORDER BY joined_at",
                (group,),
            )
        )


async def test_a_left_group_is_not_linked_to_the_account(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    first = await fac.create_group("Circle one", pseudonym="Host Heron")
    second = await fac.create_group("Circle two", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, first, "Quiet Fox")
    token = await fac.create_invite(second)
    await ana.join(token, pseudonym="Calm River")
    await fac.decide(second, ana.member_id(second))
    await fac.rotate(second)
    bob = await member_in(make_client, fac, first, "Brave Owl")  # leaves without a word
    sent = await ana.send(first, "a message that may yet be reported")
    await fac.wait_for(lambda: "a message that may yet be reported" in fac.texts(first))
    ana_pk, bob_pk = ana.account.public, bob.account.public
    ana_id, bob_id = ana.member_id(first), bob.member_id(first)

    await ana.leave(first)
    await bob.leave(first)
    # Only the live membership in the second group names Ana's account; Bob's account is in
    # no membership at all.
    assert [(table, row[0]) for table, row in places_naming(hearth_server, ana_pk)] == [
        ("accounts", ana_pk),
        ("members", second),
    ]
    assert [table for table, _ in places_naming(hearth_server, bob_pk)] == ["accounts"]
    rows = {bytes(r[0]): r for r in member_rows(hearth_server, first)}
    assert rows[ana_id][1:3] == ("left", None)
    assert rows[ana_id][3] is not None  # sealed: her message can be reported
    assert rows[bob_id][1:] == ("left", None, None)  # nothing to report: no seal

    # A ban on a report of her message still lands on her account (and on no one else's).
    report = await fac.report(first, sent["seq"], "hurtful")
    await fac.call("moderation.act", {"report_id": report["report_id"], "action": "ban_account"})
    await ana.wait_for(lambda: not ana.sio.connected)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await ana.connect()
    assert banned_accounts(hearth_server) == [ana_pk]
    assert [r[1] for r in member_rows(hearth_server, second) if r[2] is None] == ["removed"]

    # Retention deletes her message: the purge forgets her account for this group entirely.
    hearth_server.stop()
    with sqlite3.connect(hearth_server.database) as conn:
        conn.execute(
            "UPDATE messages SET server_ts = server_ts - ? WHERE group_id = ?",
            (40 * DAY_MS, first),
        )
    result = hearth_cli("purge", config=hearth_server.config_path)
    assert result.returncode == 0, result.stderr
    assert [r[3] for r in member_rows(hearth_server, first)] == [None, None, None]
    assert [table for table, _ in places_naming(hearth_server, ana_pk)] == ["accounts"]


async def test_ban_of_a_departed_member_without_messages_left_is_refused_plainly(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    """Once the link is gone the server cannot ban, and it says so instead of guessing."""
    fac = await facilitator(make_client)
    group = await fac.create_group("Circle", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    sent = await ana.send(group, "soon forgotten")
    await fac.wait_for(lambda: "soon forgotten" in fac.texts(group))
    report = await fac.report(group, sent["seq"], "hurtful")
    await ana.leave(group)
    with sqlite3.connect(hearth_server.database) as conn:  # as after the purge of her message
        conn.execute("UPDATE members SET account_seal = NULL WHERE group_id = ?", (group,))
    reply = await fac.call(
        "moderation.act", {"report_id": report["report_id"], "action": "ban_account"}
    )
    assert reply["ok"]
    await ana.disconnect()
    assert banned_accounts(hearth_server) == []  # the server no longer knew whom to ban
    await ana.connect()
    assert (await ana.call("groups.list"))["groups"] == []
