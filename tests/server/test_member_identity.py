"""Identities that cannot be taken over: a member_id is a group's name for one person for ever,
and a member that is not yet keyed can do nothing but wait. Real server, real Socket.IO clients."""

from __future__ import annotations

import os
import sqlite3

import pytest

from crypto.encoding import b64decode, b64encode
from crypto.keys import KemKey, MemberKeys, SigningKey
from server.client import GroupKeys, HearthClient, HearthRefused, InviteToken
from tests.conftest import Clients, RunningServer, facilitator, member_in


async def refused_code(coro: object) -> str:
    with pytest.raises(HearthRefused) as caught:
        await coro  # type: ignore[misc]
    return caught.value.code


async def join_as(client: HearthClient, token: str, member_id: bytes, pseudonym: str) -> bytes:
    """Join with a member_id of the caller's choosing (fresh keys): what a hostile client does."""
    invite = InviteToken.of(token)
    token = str(invite)  # the server's token alone (the link's key and anchor stay here)
    preview = await client.call("invite.preview", {"token": token})
    group = b64decode(preview["group"]["group_id"])
    member = MemberKeys(member_id, SigningKey.generate(), KemKey.generate())
    client.keys[group] = GroupKeys(member, anchor=invite.anchor)
    await client.call(
        "group.join",
        {
            "token": token,
            "member": {
                "member_id": b64encode(member_id),
                "sig_pk": b64encode(member.signing.public),
                "kem_pk": b64encode(member.kem.public),
                "pseudonym": pseudonym,
            },
            "accept_rules": True,
        },
    )
    return group


def member_row(server: RunningServer, group: bytes, member_id: bytes) -> tuple[str, bytes, str]:
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT pseudonym, sig_pk, state FROM members WHERE group_id = ? AND member_id = ?",
            (group, member_id),
        ).fetchone()
    return str(row[0]), bytes(row[1]), str(row[2])


@pytest.mark.parametrize("ending", ["left", "removed"])
async def test_member_id_of_a_departed_member_cannot_be_taken(
    ending: str, hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Names", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ana_id = ana.member_id(group)
    ana_sig = ana.keys[group].member.signing.public
    sent = await ana.send(group, "words that stay Quiet Fox's")
    await fac.wait_for(lambda: "words that stay Quiet Fox's" in fac.texts(group))
    if ending == "left":
        await ana.leave(group)
    else:
        await fac.remove(group, ana_id)
    await fac.rotate(group)

    mallory = make_client()
    await mallory.connect()
    token = await fac.create_invite(group)
    code = await refused_code(join_as(mallory, token, ana_id, "Quiet Fox"))
    assert code == "member_id_taken"
    # the old row is untouched: its messages keep their author
    assert member_row(hearth_server, group, ana_id) == ("Quiet Fox", ana_sig, ending)

    # with a fresh id the newcomer gets in, but cannot touch the departed member's messages
    await join_as(mallory, token, os.urandom(16), "Sly Cat")
    await fac.decide(group, mallory.member_id(group))
    await fac.rotate(group)
    await mallory.wait_for(lambda: mallory.keys[group].current == fac.keys[group].current)
    msg_id = next(m.msg_id for m in fac.inbox[group].values() if m.seq == sent["seq"])
    assert await refused_code(mallory.delete(group, msg_id)) == "not_found"
    history, _ = await fac.history(group)  # fetched and verified again
    old = next(m for m in history if m.seq == sent["seq"])
    assert old.text == "words that stay Quiet Fox's"
    assert old.sender_id == ana_id


async def test_pending_and_unkeyed_members_can_only_wait(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Waiting room", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    await ana.send(group, "said before anyone new came")
    gid = b64encode(group)

    newcomer = make_client()
    await newcomer.connect()
    await newcomer.join(await fac.create_invite(group), pseudonym="Late Lark")
    msg_id = next(iter(ana.inbox[group].values())).msg_id

    async def refusals() -> list[str]:
        return [
            await refused_code(newcomer.call("history.get", {"group_id": gid, "limit": 10})),
            await refused_code(
                newcomer.call("msg.delete", {"group_id": gid, "msg_id": b64encode(msg_id)})
            ),
            await refused_code(newcomer.call("members.list", {"group_id": gid})),
        ]

    assert await refusals() == ["not_member"] * 3  # pending
    await fac.decide(group, newcomer.member_id(group))
    assert await refusals() == ["not_member"] * 3  # approved, but no commit has keyed it yet
    # waiting itself works: the epoch list answers (empty) until a commit keys the newcomer
    assert (await newcomer.call("epoch.list", {"group_id": gid}))["commits"] == []
    await fac.rotate(group)
    await newcomer.wait_for(lambda: newcomer.keys[group].current == fac.keys[group].current)
    messages, _ = await newcomer.history(group)
    assert messages == []  # keyed from this epoch on: nothing said before
    assert len((await newcomer.members(group))["members"]) == 3
