"""The hybrid suite 2 through the real server (docs/protocol.md §6.9): a group whose members all
sent ML-KEM keys uses it, a mixed group stays on suite 1, and the suite never goes down, refused
by the server and by clients."""

from __future__ import annotations

import json
import os

import pytest

from crypto.commits import build_commit, parse_commit
from crypto.encoding import b64decode, b64encode
from crypto.keys import MemberKeys, PqKemKey
from crypto.roster import RosterEntry
from crypto.suite import SUITE, SUITE_HYBRID
from server.client import HearthClient, HearthRefused
from server.realtime.suites import members_fitting
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, Clients


async def _facilitator(make_client: Clients, *, hybrid: bool) -> HearthClient:
    client = make_client()
    client.hybrid = hybrid
    await client.login(FACILITATOR, FACILITATOR_PASSWORD)
    await client.connect()
    return client


async def _member(
    make_client: Clients, fac: HearthClient, group: bytes, name: str, *, hybrid: bool
) -> HearthClient:
    client = make_client()
    client.hybrid = hybrid
    await client.connect()
    token = await fac.create_invite(group)
    await client.join(token, pseudonym=name)
    await fac.decide(group, client.member_id(group))
    await fac.rotate(group)
    await client.wait_for(lambda: client.keys[group].current == fac.keys[group].current)
    return client


async def _stored_suites(client: HearthClient, group: bytes) -> list[int]:
    reply = await client.call("epoch.list", {"group_id": b64encode(group), "from_epoch": 1})
    return [parse_commit(b64decode(c["commit"])).suite for c in reply["commits"]]


async def _refused(coro: object) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await coro  # type: ignore[misc]
    return caught.value


def _roster(listing: dict[str, object]) -> list[RosterEntry]:
    members = listing["members"]
    assert isinstance(members, list)
    return [
        RosterEntry(b64decode(m["member_id"]), b64decode(m["sig_pk"]), b64decode(m["kem_pk"]))
        for m in members
        if m["state"] == "active"
    ]


async def test_a_group_of_hybrid_clients_uses_suite_2_end_to_end(make_client: Clients) -> None:
    fac = await _facilitator(make_client, hybrid=True)
    group = await fac.create_group("Long secrets", pseudonym="Host Heron")
    ana = await _member(make_client, fac, group, "Quiet Fox", hybrid=True)
    assert await _stored_suites(fac, group) == [SUITE_HYBRID, SUITE_HYBRID]
    state = ana.keys[group].state
    assert state is not None
    assert state.suite == SUITE_HYBRID
    listing = await fac.members(group)
    assert all(m["pq_key"] for m in listing["members"])
    await fac.send(group, "kept private for decades")
    await ana.wait_for(lambda: "kept private for decades" in ana.texts(group))


async def test_a_mixed_group_stays_on_suite_1_until_every_member_supports_it(
    make_client: Clients,
) -> None:
    fac = await _facilitator(make_client, hybrid=False)  # a client of suite 1 only
    group = await fac.create_group("Mixed", pseudonym="Host Heron")
    ana = await _member(make_client, fac, group, "Quiet Fox", hybrid=True)
    await ana.rotate(group)  # the hybrid member commits too: still suite 1
    assert await _stored_suites(fac, group) == [SUITE, SUITE, SUITE]
    listing = await ana.members(group)
    assert sorted(m["pq_key"] is None for m in listing["members"]) == [False, True]
    await ana.send(group, "still readable by all")
    await fac.wait_for(lambda: "still readable by all" in fac.texts(group))


async def test_the_server_refuses_a_downgrade_and_a_suite_1_commit_when_all_support_2(
    make_client: Clients,
) -> None:
    fac = await _facilitator(make_client, hybrid=True)
    group = await fac.create_group("No way down", pseudonym="Host Heron")
    ana = await _member(make_client, fac, group, "Quiet Fox", hybrid=True)
    keys = fac.keys[group]
    assert keys.latest is not None
    lower, _ = build_commit(
        group_id=group,
        epoch=keys.latest.epoch + 1,
        prev_commit_hash=keys.latest.hash,
        committer=keys.member,
        roster=_roster(await fac.members(group)),
        facilitators=keys.latest.facilitators,
    )
    refusal = await _refused(
        fac.call("epoch.commit", {"group_id": b64encode(group), "commit": b64encode(lower.raw)})
    )
    assert refusal.code == "suite_downgrade"
    assert await _stored_suites(fac, group) == [SUITE_HYBRID, SUITE_HYBRID]
    # A hostile server that delivered it anyway: the client refuses it too, and keeps its epoch.
    held = ana.keys[group].current
    ana._accept_commit(group, lower.raw)
    assert ana.keys[group].current == held
    assert ana.keys[group].untrusted[-1].endswith("lowers the group's cipher suite")


async def test_a_suite_2_commit_must_seal_to_the_keys_the_members_sent(
    make_client: Clients,
) -> None:
    fac = await _facilitator(make_client, hybrid=True)
    group = await fac.create_group("Own keys", pseudonym="Host Heron")
    ana = await _member(make_client, fac, group, "Quiet Fox", hybrid=True)
    keys = fac.keys[group]
    assert keys.latest is not None
    ana_keys = ana.keys[group].member
    # another ML-KEM key, even one signed by ana's own member key, is not the one she sent
    other = MemberKeys(ana_keys.member_id, ana_keys.signing, ana_keys.kem, PqKemKey.generate())
    commit, _ = build_commit(
        group_id=group,
        epoch=keys.latest.epoch + 1,
        prev_commit_hash=keys.latest.hash,
        committer=keys.member,
        roster=_roster(await fac.members(group)),
        facilitators=keys.latest.facilitators,
        pq_keys={
            keys.member.member_id: keys.member.pq_key(group),
            ana_keys.member_id: other.pq_key(group),
        },
    )
    refusal = await _refused(
        fac.call("epoch.commit", {"group_id": b64encode(group), "commit": b64encode(commit.raw)})
    )
    assert refusal.code == "roster_mismatch"


async def test_a_suite_1_client_cannot_join_a_hybrid_group(make_client: Clients) -> None:
    fac = await _facilitator(make_client, hybrid=True)
    group = await fac.create_group("Hybrid only", pseudonym="Host Heron")
    old = make_client()
    await old.connect()
    token = await fac.create_invite(group)
    refusal = await _refused(old.join(token, pseudonym="Old Owl"))
    assert refusal.code == "hybrid_required"
    assert "quantum" in refusal.message
    assert len((await fac.members(group))["members"]) == 1


async def test_a_pq_key_not_signed_by_the_member_is_refused(make_client: Clients) -> None:
    fac = await _facilitator(make_client, hybrid=True)
    group = await fac.create_group("Signed keys", pseudonym="Host Heron")
    token = await fac.create_invite(group)
    newcomer = make_client()
    await newcomer.connect()
    member = MemberKeys.generate()
    bad = member.pq_key(os.urandom(16)).encode()  # signed for another group
    payload = {
        "token": str(token),
        "member": {
            "member_id": b64encode(member.member_id),
            "sig_pk": b64encode(member.signing.public),
            "kem_pk": b64encode(member.kem.public),
            "pseudonym": "Stray Cat",
            "pq_key": b64encode(bad),
        },
        "accept_rules": True,
    }
    refusal = await _refused(newcomer.call("group.join", payload))
    assert refusal.code == "bad_request"
    assert "not signed" in refusal.message
    assert len((await fac.members(group))["members"]) == 1


async def test_a_hybrid_creator_cannot_start_a_group_on_suite_1(make_client: Clients) -> None:
    fac = await _facilitator(make_client, hybrid=True)
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
    payload = {
        "group_id": b64encode(group_id),
        "name": "Down from the start",
        "rules": "",
        "join_policy": "approval",
        "posting_policy": "always",
        "member": fac._member_payload(member, "Host Heron", group_id),
        "commit": b64encode(commit.raw),
    }
    refusal = await _refused(fac.call("group.create", payload))
    assert refusal.code == "suite_downgrade"


@pytest.mark.parametrize("limit", [8192, 65536, 1024 * 1024])
def test_hybrid_capacity_is_the_largest_roster_whose_commit_fits_a_frame(limit: int) -> None:
    """A suite-2 commit of ``hybrid_capacity`` members, all facilitators and each with an invite
    admission (the largest authorisation, 285 bytes), fits one ``epoch.commit`` frame of
    ``limit`` bytes; with one more member it would leave less than the frame's reserve."""

    def frame(n: int) -> int:
        group_id = os.urandom(16)
        members = [MemberKeys.generate() for _ in range(n)]
        commit, _ = build_commit(
            group_id=group_id,
            epoch=1,
            prev_commit_hash=bytes(32),
            committer=members[0],
            roster=[m.entry for m in members],
            facilitators=[m.member_id for m in members],
            pq_keys={m.member_id: m.pq_key(group_id) for m in members},
        )
        commit_text = b64encode(bytes(len(commit.raw) + 285 * n))
        payload = {"group_id": b64encode(group_id), "commit": commit_text}
        return len("42123456" + json.dumps(["epoch.commit", payload], separators=(",", ":")))

    capacity = members_fitting(limit)
    assert capacity >= 2
    assert frame(capacity) <= limit
    assert frame(capacity + 1) > limit - 256


async def test_a_member_that_adds_its_pq_key_lets_the_group_move_up(make_client: Clients) -> None:
    fac = await _facilitator(make_client, hybrid=False)
    group = await fac.create_group("Moving up", pseudonym="Host Heron")
    ana = await _member(make_client, fac, group, "Quiet Fox", hybrid=True)
    assert await _stored_suites(fac, group) == [SUITE, SUITE]
    fac.hybrid = True  # the facilitator's client now supports the hybrid suite
    await fac.send_pq_key(group)
    await fac.send_pq_key(group)  # the same key again: harmless
    ben = await _member(make_client, fac, group, "Calm River", hybrid=True)
    assert await _stored_suites(fac, group) == [SUITE, SUITE, SUITE_HYBRID]
    await ana.wait_for(lambda: ana.keys[group].current == 3)
    state = ana.keys[group].state
    assert state is not None
    assert state.suite == SUITE_HYBRID
    await ben.send(group, "now protected")
    await ana.wait_for(lambda: "now protected" in ana.texts(group))
    # a key once sent cannot be replaced, nor one be sent that the member did not sign
    other = MemberKeys.generate()
    member = fac.keys[group].member
    swapped = MemberKeys(member.member_id, member.signing, member.kem, other.pq)
    for pq_key, code in (
        (swapped.pq_key(group), "forbidden"),
        (other.pq_key(group), "forbidden"),
    ):
        refusal = await _refused(
            fac.call(
                "member.pq_key",
                {"group_id": b64encode(group), "pq_key": b64encode(pq_key.encode())},
            )
        )
        assert refusal.code == code


async def test_a_pq_key_added_later_must_be_signed_by_the_member(make_client: Clients) -> None:
    fac = await _facilitator(make_client, hybrid=False)
    group = await fac.create_group("Signed later", pseudonym="Host Heron")
    stranger = MemberKeys.generate()
    refusal = await _refused(
        fac.call(
            "member.pq_key",
            {"group_id": b64encode(group), "pq_key": b64encode(stranger.pq_key(group).encode())},
        )
    )
    assert refusal.code == "bad_request"
    assert (await fac.members(group))["members"][0]["pq_key"] is None
