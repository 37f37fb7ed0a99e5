"""Bans that stick without identifying anyone: a ban revokes the invite links the banned account
joined with, a fresh account key with the same link is refused, and a facilitator approving a
request made with such a link is told. A real server, real clients, a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import pytest

from crypto.commits import build_commit
from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from server.client import HearthClient, HearthRefused, InviteToken
from tests.conftest import Clients, RunningServer, facilitator


async def refused(coro: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await coro
    return caught.value


async def joins(make_client: Clients, token: InviteToken, name: str) -> HearthClient:
    client = make_client()
    await client.connect()
    await client.join(token, pseudonym=name)
    return client


async def approved(fac: HearthClient, group: bytes, client: HearthClient) -> None:
    await fac.decide(group, client.member_id(group))
    await fac.rotate(group)
    await client.wait_for(lambda: client.keys[group].current == fac.keys[group].current)


async def ban_after_report(fac: HearthClient, group: bytes, seq: int) -> None:
    report = await fac.report(group, seq, "cruel")
    await fac.call("moderation.act", {"report_id": report["report_id"], "action": "ban_account"})


def invites_by_id(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["invite_id"]: i for i in listing["invites"]}


async def test_a_banned_person_with_a_fresh_account_and_the_same_link_is_refused(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Circle", pseudonym="Host Heron")
    link = await fac.create_invite(group, max_uses=10)
    other_link = await fac.create_invite(group, max_uses=10)
    ana = await joins(make_client, link, "Quiet Fox")
    await approved(fac, group, ana)
    # Two requests wait: one made with the link the banned account used, one with another.
    ben = await joins(make_client, link, "Calm River")
    cara = await joins(make_client, other_link, "Warm Stone")
    listing = await fac.call("members.list", {"group_id": b64encode(group)})
    assert not any(m.get("invite_used_by_banned") for m in listing["members"])

    sent = await ana.send(group, "something cruel")
    await fac.wait_for(lambda: "something cruel" in fac.texts(group))
    await ban_after_report(fac, group, sent["seq"])
    await ana.wait_for(lambda: not ana.sio.connected)

    # "Delete all my data" leaves a fresh account key; the same link no longer works.
    fresh = make_client()
    await fresh.connect()
    for attempt in (
        fresh.call("invite.preview", {"token": str(link)}),
        fresh.join(link, pseudonym="New Name"),
    ):
        error = await refused(attempt)
        assert error.code == "invite_invalid"
        assert error.detail["reason"] == "revoked"
    # The other link still works: a ban is not a lockout of everyone.
    dave = await joins(make_client, other_link, "Bright Lake")

    # The facilitator sees which waiting request came through a link a banned account used.
    listing = await fac.call("members.list", {"group_id": b64encode(group)})
    flagged = {m["pseudonym"]: m.get("invite_used_by_banned", False) for m in listing["members"]}
    assert flagged == {
        "Host Heron": False,
        "Calm River": True,
        "Warm Stone": False,
        "Bright Lake": False,
    }
    invites = invites_by_id(await fac.call("invite.list", {"group_id": b64encode(group)}))
    assert [(i["revoked"], i["banned_use"]) for i in invites.values()] == [
        (True, True),
        (False, False),
    ]
    for client in (ben, cara, dave):
        assert client.sio.connected


async def test_a_member_sees_no_ban_marks(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Circle", pseudonym="Host Heron")
    link = await fac.create_invite(group, max_uses=10)
    ana = await joins(make_client, link, "Quiet Fox")
    await approved(fac, group, ana)
    ben = await joins(make_client, link, "Calm River")
    eve = await joins(make_client, await fac.create_invite(group), "Keen Eye")
    await approved(fac, group, eve)
    sent = await ana.send(group, "something cruel")
    await fac.wait_for(lambda: "something cruel" in fac.texts(group))
    await ban_after_report(fac, group, sent["seq"])
    # A member sees active members only, and no invite flag; invites are facilitators' only.
    listing = await eve.call("members.list", {"group_id": b64encode(group)})
    assert all("invite_used_by_banned" not in m for m in listing["members"])
    assert ben.member_id(group) not in {m["member_id"] for m in listing["members"]}
    error = await refused(eve.call("invite.list", {"group_id": b64encode(group)}))
    assert error.code == "forbidden"


async def test_a_ban_after_the_member_left_still_revokes_the_link(
    make_client: Clients, hearth_server: RunningServer
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Circle", pseudonym="Host Heron")
    link = await fac.create_invite(group, max_uses=10)
    ana = await joins(make_client, link, "Quiet Fox")
    await approved(fac, group, ana)
    sent = await ana.send(group, "something cruel")
    await fac.wait_for(lambda: "something cruel" in fac.texts(group))
    report = await fac.report(group, sent["seq"], "cruel")
    await ana.leave(group)
    await fac.call("moderation.act", {"report_id": report["report_id"], "action": "ban_account"})
    fresh = make_client()
    await fresh.connect()
    error = await refused(fresh.join(link, pseudonym="New Name"))
    assert error.detail["reason"] == "revoked"


async def test_what_the_database_keeps_names_one_group_s_link_not_the_person(
    make_client: Clients, hearth_server: RunningServer
) -> None:
    """The invite a membership used is stored as the invite's own hash, on that membership:
    nothing new ties the person's memberships of two groups together."""
    fac = await facilitator(make_client)
    first = await fac.create_group("First", pseudonym="Host Heron")
    second = await fac.create_group("Second", pseudonym="Host Heron")
    ana = make_client()
    await ana.connect()
    await ana.join(await fac.create_invite(first), pseudonym="Quiet Fox")
    await ana.join(await fac.create_invite(second), pseudonym="Other Name")
    with sqlite3.connect(hearth_server.database) as conn:
        rows = conn.execute(
            "SELECT m.group_id, i.group_id FROM members m JOIN invites i "
            "ON i.token_hash = m.invite_hash WHERE m.facilitator_id IS NULL"
        ).fetchall()
        invite_columns = [r[1] for r in conn.execute("PRAGMA table_info(invites)")]
    assert sorted(rows) == sorted([(first, first), (second, second)])
    assert not {"account_pk", "member_id", "ip", "user_agent"} & set(invite_columns)


async def test_a_new_group_asks_for_approval_unless_it_says_open(make_client: Clients) -> None:
    fac = await facilitator(make_client)
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
    reply = await fac.call(
        "group.create",
        {
            "group_id": b64encode(group_id),
            "name": "Default policy",
            "rules": "Be kind.",
            "posting_policy": "always",
            "member": {
                "member_id": b64encode(member.member_id),
                "sig_pk": b64encode(member.signing.public),
                "kem_pk": b64encode(member.kem.public),
                "pseudonym": "Host Heron",
            },
            "commit": b64encode(commit.raw),
        },
    )
    assert reply["group"]["join_policy"] == "approval"
    newcomer = make_client()
    await newcomer.connect()
    _, state = await newcomer.join(await fac.create_invite(group_id), pseudonym="Quiet Fox")
    assert state == "pending"
