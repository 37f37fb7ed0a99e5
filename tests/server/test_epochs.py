"""The server's side of epoch commits: exactly one commit per epoch, chained, over the roster."""

from __future__ import annotations

import asyncio
import os

import pytest

from crypto.commits import build_commit, open_commit, parse_commit
from crypto.encoding import b64decode, b64encode
from crypto.errors import VerificationFailed
from crypto.keys import MemberKeys
from crypto.roster import RosterEntry
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, facilitator, member_in


async def send_commit(
    client: HearthClient,
    group: bytes,
    *,
    epoch: int | None = None,
    prev: bytes | None = None,
    roster: list[RosterEntry] | None = None,
    committer: MemberKeys | None = None,
) -> dict[str, object]:
    keys = client.keys[group]
    assert keys.latest is not None
    listing = await client.members(group)
    current_roster = [
        RosterEntry(b64decode(m["member_id"]), b64decode(m["sig_pk"]), b64decode(m["kem_pk"]))
        for m in listing["members"]
        if m["state"] == "active"
    ]
    commit, _ = build_commit(
        group_id=group,
        epoch=keys.latest.epoch + 1 if epoch is None else epoch,
        prev_commit_hash=keys.latest.hash if prev is None else prev,
        committer=committer or keys.member,
        roster=current_roster if roster is None else roster,
        facilitators=keys.latest.facilitators,
    )
    return await client.call(
        "epoch.commit", {"group_id": b64encode(group), "commit": b64encode(commit.raw)}
    )


async def refused(coro: object) -> str:
    with pytest.raises(HearthRefused) as caught:
        await coro  # type: ignore[misc]
    return caught.value.code


async def test_commit_checks(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Epochs", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    current = fac.keys[group].current

    assert await refused(send_commit(fac, group, epoch=current + 2)) == "wrong_epoch"
    assert await refused(send_commit(fac, group, epoch=current)) == "epoch_conflict"
    assert await refused(send_commit(fac, group, prev=os.urandom(32))) == "invalid_commit"
    only_me = [fac.keys[group].member.entry]
    assert await refused(send_commit(fac, group, roster=only_me)) == "roster_mismatch"
    # a commit signed by a member key the server does not know for this account
    stranger = MemberKeys.generate()
    roster = [fac.keys[group].member.entry, ana.keys[group].member.entry, stranger.entry]
    assert await refused(send_commit(fac, group, roster=roster, committer=stranger)) in (
        "forbidden",
        "roster_mismatch",
    )
    # ana may not commit as the facilitator's member
    ana.keys[group].member, saved = fac.keys[group].member, ana.keys[group].member
    assert await refused(send_commit(ana, group)) == "forbidden"
    ana.keys[group].member = saved
    # nothing above moved the epoch
    assert (await fac.members(group))["group"]["current_epoch"] == current


async def test_first_commit_wins(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Race", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    before = fac.keys[group].current
    stale_hash = fac.keys[group].latest.hash  # type: ignore[union-attr]
    first = await send_commit(ana, group)
    assert first["epoch"] == before + 1
    late = send_commit(fac, group, epoch=before + 1, prev=stale_hash)
    assert await refused(late) == "epoch_conflict"
    # the loser catches up and can rotate on top
    epoch = await fac.rotate(group)
    assert epoch == before + 2


async def test_garbage_commit_is_refused(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Garbage", pseudonym="Host Heron")
    raw = bytearray(fac.keys[group].latest.raw)  # type: ignore[union-attr]
    raw[-1] ^= 1
    code = await refused(
        fac.call("epoch.commit", {"group_id": b64encode(group), "commit": b64encode(bytes(raw))})
    )
    assert code == "invalid_commit"
    # ver 1, suite 1, then too short: malformed (another ver or suite is unsupported_version)
    short = "AQABAAAA"
    code = await refused(fac.call("epoch.commit", {"group_id": b64encode(group), "commit": short}))
    assert code == "invalid_commit"


async def test_removed_member_cannot_open_the_next_epoch(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Removal", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    held = ana.keys[group]
    known = set(held.epochs)
    await fac.remove(group, ana.member_id(group))
    epoch = await fac.rotate(group)
    await ben.wait_for(lambda: ben.keys[group].current == epoch)
    assert set(held.epochs) == known
    with pytest.raises(VerificationFailed):
        open_commit(parse_commit(ben.keys[group].latest.raw), held.member)  # type: ignore[union-attr]
    assert await refused(ana.call("epoch.list", {"group_id": b64encode(group)})) == "not_member"


async def test_rotation_needed_is_asked_of_one_key_holder(make_client: Clients) -> None:
    """Only the member the server names hears it (tests/server/test_rotators.py for more)."""
    fac = await facilitator(make_client)
    group = await fac.create_group("Announce", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    await asyncio.sleep(0.5)
    fac.events.clear()
    ana.events.clear()
    newcomer = make_client()
    await newcomer.connect()
    token = await fac.create_invite(group)
    await newcomer.join(token, pseudonym="Late Lark")
    await fac.decide(group, newcomer.member_id(group))
    await fac.wait_for(lambda: any(e == "rotation.needed" for e, _ in fac.events))
    (asked,) = [d for e, d in fac.events if e == "rotation.needed"]
    assert asked["rotator"] == b64encode(fac.member_id(group))
    await asyncio.sleep(0.5)
    assert not any(e == "rotation.needed" for e, _ in ana.events + newcomer.events)
    listing = await fac.members(group)
    assert listing["rotation_needed"] is True


async def test_concurrent_approvals_then_one_rotation(make_client: Clients) -> None:
    """Approving many members at once leaves a roster the next commit can match first time."""
    fac = await facilitator(make_client)
    group = await fac.create_group("Busy evening", pseudonym="Alice")
    token = await fac.create_invite(group, max_uses=12)
    joiners = [make_client() for _ in range(12)]

    async def join(client: HearthClient, n: int) -> bytes:
        await client.connect()
        await client.join(token, pseudonym=f"Member {n}")
        return client.member_id(group)

    member_ids = await asyncio.gather(*(join(c, n) for n, c in enumerate(joiners)))
    await asyncio.gather(*(fac.decide(group, m) for m in member_ids))
    listing = await fac.members(group)
    assert sum(m["state"] == "active" for m in listing["members"]) == 13
    try:
        await fac.rotate(group, attempts=1)
    except HearthRefused as refused:
        pytest.fail(f"the rotation after concurrent approvals was refused: {refused}")
