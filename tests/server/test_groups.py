"""Groups, invites, join policies, posting policy and deletion against a running server."""

from __future__ import annotations

import asyncio

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, facilitator, member_in


async def refused_code(coro: object) -> str:
    with pytest.raises(HearthRefused) as caught:
        await coro  # type: ignore[misc]
    return caught.value.code


async def test_invite_max_uses_and_revocation(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Invites", pseudonym="Host Heron")
    token = await fac.create_invite(group, max_uses=1)
    first, second = make_client(), make_client()
    await first.connect()
    await second.connect()
    await first.join(token, pseudonym="Quiet Fox")
    assert await refused_code(second.join(token, pseudonym="Calm River")) == "invite_invalid"

    other = await fac.create_invite(group)
    listing = await fac.call("invite.list", {"group_id": b64encode(group)})
    assert [i["uses"] for i in listing["invites"]] == [1, 0]
    invite_id = listing["invites"][1]["invite_id"]
    await fac.call("invite.revoke", {"group_id": b64encode(group), "invite_id": invite_id})
    assert await refused_code(second.join(other, pseudonym="Calm River")) == "invite_invalid"
    assert await refused_code(second.join("A" * 32, pseudonym="Calm River")) == "invite_invalid"


async def test_members_cannot_use_facilitator_events(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Powers", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    gid = b64encode(group)
    assert await refused_code(ana.call("invite.create", {"group_id": gid})) == "forbidden"
    assert (
        await refused_code(ana.call("group.update", {"group_id": gid, "name": "x"})) == "forbidden"
    )
    assert await refused_code(ana.remove(group, fac.member_id(group))) == "forbidden"
    assert await refused_code(ana.create_group("Mine", pseudonym="Quiet Fox")) == "forbidden"
    # pending requests are shown to facilitators only
    newcomer = make_client()
    await newcomer.connect()
    await newcomer.join(await fac.create_invite(group), pseudonym="Late Lark")
    shown = [m["pseudonym"] for m in (await ana.members(group))["members"]]
    assert "Late Lark" not in shown
    fac_view = {m["pseudonym"]: m["state"] for m in (await fac.members(group))["members"]}
    assert fac_view["Late Lark"] == "pending"


async def test_refused_join_request(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Refusals", pseudonym="Host Heron")
    ana = make_client()
    await ana.connect()
    await ana.join(await fac.create_invite(group), pseudonym="Quiet Fox")
    await fac.wait_for(lambda: any(e == "join.requested" for e, _ in fac.events))
    await fac.decide(group, ana.member_id(group), approve=False)
    await ana.wait_for(lambda: any(d.get("state") == "refused" for e, d in ana.events))
    assert await refused_code(ana.history(group)) == "not_member"


async def test_open_group_needs_no_approval(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Open door", pseudonym="Host Heron", join_policy="open")
    ana = make_client()
    await ana.connect()
    _, state = await ana.join(await fac.create_invite(group), pseudonym="Quiet Fox")
    assert state == "active"
    await fac.wait_for(lambda: any(e == "rotation.needed" for e, _ in fac.events))
    await fac.rotate(group)
    await ana.wait_for(lambda: ana.keys[group].current == fac.keys[group].current)
    await ana.send(group, "hello, open door")


async def test_pseudonyms_are_checked(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Names", pseudonym="Quiet Fox")
    token = await fac.create_invite(group)
    ana = make_client()
    await ana.connect()
    for bad in ("x", "evil\u202egnp", "zero\u200bwidth", "a" * 33, "!!"):
        assert await refused_code(ana.join(token, pseudonym=bad)) == "pseudonym_invalid"
    for confusable in ("quiet fox", "Qu1et_Fox", "Quiet F\u03bfx"):
        assert await refused_code(ana.join(token, pseudonym=confusable)) == "pseudonym_taken"
    _, state = await ana.join(token, pseudonym="Quiet Otter")
    assert state == "pending"


async def test_facilitator_present_policy(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group(
        "Supervised", pseudonym="Host Heron", posting_policy="facilitator_present"
    )
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    await ana.send(group, "while the host is here")
    await fac.disconnect()
    await asyncio.sleep(0.2)
    assert await refused_code(ana.send(group, "alone")) == "posting_closed"


async def test_delete_own_message_broadcasts_a_tombstone(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Deletion", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ack = await ana.send(group, "oops")
    await fac.wait_for(lambda: fac.texts(group) == ["oops"])
    msg_id = ana.inbox[group][ack["seq"]].msg_id
    assert await refused_code(fac.delete(group, msg_id)) == "not_found"  # not fac's message
    await ana.delete(group, msg_id)
    await fac.wait_for(lambda: fac.texts(group) == [None])
    assert any(e == "msg.deleted" and d["by"] == "sender" for e, d in fac.events)
    page, _ = await fac.history(group)
    assert [m.text for m in page] == [None]


async def test_group_update_by_its_facilitator(make_client: Clients) -> None:
    fac: HearthClient = await facilitator(make_client)
    group = await fac.create_group("Before", pseudonym="Host Heron")
    reply = await fac.call(
        "group.update", {"group_id": b64encode(group), "name": "After", "retention_days": 7}
    )
    assert reply["group"]["name"] == "After"
    assert reply["group"]["retention_days"] == 7
    listing = await fac.call("groups.list")
    assert [g["name"] for g in listing["groups"]] == ["After"]
    assert listing["facilitator"] == "alice"


async def test_concurrent_approvals_then_one_rotation(make_client: Clients) -> None:
    """Approving several members at once must leave the server's view of the group whole."""
    fac = await facilitator(make_client)
    group = await fac.create_group("Busy evening", pseudonym="Host Heron")
    newcomers = [make_client() for _ in range(4)]
    for index, person in enumerate(newcomers):
        await person.connect()
        await person.join(await fac.create_invite(group), pseudonym=f"Newcomer {index}")
    await asyncio.gather(*(fac.decide(group, p.member_id(group)) for p in newcomers))
    epoch = await fac.rotate(group, attempts=1)
    for person in newcomers:
        await person.wait_for(lambda p=person: p.keys[group].current == epoch)
