"""An invite link's anchor (§6.7): a newcomer verifies the chain from the epoch its link names,
and keys into nothing else; a link without an anchor keys nobody unless the person says so."""

from __future__ import annotations

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused, InviteToken
from tests.conftest import Clients, facilitator, member_in


async def test_a_newcomer_verifies_the_departures_since_its_anchor(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Anchor", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    link = await fac.create_invite(group)
    assert link.anchor == (fac.keys[group].current, fac.keys[group].latest.hash)  # type: ignore[union-attr]
    assert InviteToken.of(link.link).anchor == link.anchor
    # ana leaves after the link was made; the newcomer's chain from the anchor shows it.
    gone = ana.member_id(group)
    await fac.remove(group, gone)
    await fac.rotate(group)
    ben = make_client()
    await ben.connect()
    await ben.join(InviteToken.of(link.link), pseudonym="Calm River")
    await fac.decide(group, ben.member_id(group))
    await fac.rotate(group)
    await ben.wait_for(lambda: ben.keys[group].current == fac.keys[group].current)
    state = ben.keys[group].state
    assert state is not None
    assert gone in state.departed
    assert (gone, "removed") in {(c.member_id, c.kind) for _, c in ben.keys[group].changes}


async def test_a_link_without_an_anchor_keys_nobody_unasked(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Anchor", pseudonym="Host Birch")
    link = await fac.create_invite(group)
    bare = InviteToken(str(link), link.invite_key)  # a link made before anchors
    ana = make_client()
    await ana.connect()
    await ana.join(bare, pseudonym="Quiet Fox")
    await fac.decide(group, ana.member_id(group))
    await fac.rotate(group)
    await ana.wait_for(lambda: bool(ana.keys[group].untrusted))
    assert ana.keys[group].latest is None
    assert "no anchor" in ana.keys[group].untrusted[-1]
    with pytest.raises(HearthRefused):
        await ana.send(group, "not yet")


async def test_epoch_list_goes_back_only_to_an_epoch_an_invite_could_name(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Anchor", pseudonym="Host Birch")
    genesis = fac.keys[group].latest
    assert genesis is not None
    await fac.rotate(group)
    await fac.rotate(group)  # epochs 1..3, no invite yet
    ana = await member_in(make_client, fac, group, "Quiet Fox")  # its invite names epoch 3
    gid = b64encode(group)

    async def listed(commit_hash: bytes, client: HearthClient = ana) -> list[int] | str:
        try:
            reply = await client.call(
                "epoch.list", {"group_id": gid, "from_commit_hash": b64encode(commit_hash)}
            )
        except HearthRefused as refused:
            return refused.code
        return [c["epoch"] for c in reply["commits"]]

    assert await listed(genesis.hash) == "not_found"  # superseded before any invite
    assert await listed(bytes(32)) == "not_found"
    three = fac.keys[group].epochs[3].commit.hash
    assert await listed(three) == [3, 4]
    stranger = make_client()
    await stranger.connect()
    assert await listed(three, stranger) == "not_member"
