"""Several facilitators per group (docs/protocol.md §6.8): inviting, admitting with the
facilitator role, reports and requests reaching each, who is on duty, and removal."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from crypto.authorisations import sign_removal
from crypto.commits import build_commit, open_commit
from crypto.encoding import b64encode
from crypto.errors import VerificationFailed
from crypto.keys import MemberKeys
from crypto.suite import ROLE_FACILITATOR
from server.client import HearthClient, HearthRefused
from tests.conftest import (
    FACILITATOR_PASSWORD,
    Clients,
    RunningServer,
    facilitator,
    hearth_cli,
    member_in,
)


async def _refused(code: str, call: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await call
    assert caught.value.code == code, caught.value
    assert caught.value.message
    return caught.value


async def _cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """``hearth facilitator ...`` off the event loop, so that open sockets keep answering pings."""
    return await asyncio.to_thread(hearth_cli, "facilitator", *args, config=config)


async def _logged_in(make_client: Clients, server: RunningServer, name: str) -> HearthClient:
    await asyncio.to_thread(server.add_facilitator, name)
    client = make_client()
    await client.login(name, FACILITATOR_PASSWORD)
    await client.connect()
    return client


async def _co_facilitator(
    make_client: Clients, server: RunningServer, fac: HearthClient, group: bytes, name: str
) -> HearthClient:
    """``name`` invited by ``fac``, joined with its own member keys, admitted as a facilitator
    and keyed into the next epoch."""
    co = await _logged_in(make_client, server, name)
    await fac.add_facilitator(group, name)
    listing = await co.call("groups.list")
    assert [g["group_id"] for g in listing["invitations"]] == [b64encode(group)]
    assert await co.accept_facilitation(group, pseudonym=f"Host {name.title()}") == "pending"
    await fac.decide(group, co.member_id(group), role=ROLE_FACILITATOR)
    await fac.rotate(group)
    await co.wait_for(
        lambda: (
            co.keys[group].state is not None and co.keys[group].current == fac.keys[group].current
        )
    )
    return co


def _keys(pseudonym: str) -> dict[str, str]:
    member = MemberKeys.generate()
    return {
        "member_id": b64encode(member.member_id),
        "sig_pk": b64encode(member.signing.public),
        "kem_pk": b64encode(member.kem.public),
        "pseudonym": pseudonym,
    }


def _events(client: HearthClient, name: str) -> list[dict[str, Any]]:
    return [data for event, data in client.events if event == name]


async def test_two_facilitators_both_receive_reports_and_join_requests(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Tuesday circle", pseudonym="Host Heron")
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    ben = await member_in(make_client, alice, group, "Calm Otter")

    # Every client's verified state holds both facilitators, from signed admissions.
    mine = {alice.member_id(group), bob.member_id(group)}
    for client in (alice, bob, ana, ben):
        await client.wait_for(lambda c=client: c.keys[group].current == alice.keys[group].current)
        assert client.verified_facilitators(group) == mine

    # A join request reaches both.
    newcomer = make_client()
    await newcomer.connect()
    await newcomer.join(await alice.create_invite(group), pseudonym="Shy Wren")
    for fac in (alice, bob):
        await fac.wait_for(lambda f=fac: bool(_events(f, "join.requested")))

    # A report reaches both, live and in their lists; bob can decide it.
    reply = await ana.send(group, "something to report")
    await ben.wait_for(lambda: reply["seq"] in ben.inbox.get(group, {}))
    report = await ben.report(group, reply["seq"], "unkind")
    for fac in (alice, bob):
        await fac.wait_for(lambda f=fac: bool(_events(f, "report.new")))
        listed = await fac.call("moderation.list", {"group_id": b64encode(group)})
        assert [r["report_id"] for r in listed["reports"]] == [report["report_id"]]
    await bob.call("moderation.act", {"report_id": report["report_id"], "action": "dismiss"})


async def test_on_duty_shows_which_facilitators_are_online(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Duty", pseudonym="Host Heron")
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    await _co_facilitator(make_client, hearth_server, alice, group, "carol")
    duty = {f["username"]: f for f in await bob.facilitators(group)}
    assert {u: (f["state"], f["on_duty"]) for u, f in duty.items()} == {
        "alice": ("active", True),
        "bob": ("active", True),
        "carol": ("active", True),
    }
    assert duty["bob"]["member_id"] == b64encode(bob.member_id(group))
    alice.events.clear()
    await bob.disconnect()
    await alice.wait_for(lambda: bool(_events(alice, "facilitators.changed")))
    duty = {f["username"]: f["on_duty"] for f in await alice.facilitators(group)}
    assert duty == {"alice": True, "bob": False, "carol": True}

    # Visible only to the group's facilitators.
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    await _refused("forbidden", ana.facilitators(group))
    dave = await _logged_in(make_client, hearth_server, "dave")
    await _refused("forbidden", dave.facilitators(group))


async def test_facilitator_present_counts_any_facilitator(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group(
        "Supervised", pseudonym="Host Heron", posting_policy="facilitator_present"
    )
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    await alice.disconnect()
    await ana.send(group, "bob is here")  # bob alone is on duty
    ana.events.clear()
    await bob.disconnect()
    # The server has seen bob go once it tells the members that posting closed.
    await ana.wait_for(lambda: any(not e["open"] for e in _events(ana, "group.posting")))
    await _refused("posting_closed", ana.send(group, "nobody is here"))


async def test_a_removed_facilitator_loses_power_at_once_and_cannot_read(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Rotation", pseudonym="Host Heron")
    other = await alice.create_group("Elsewhere", pseudonym="Host Heron")
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    await alice.add_facilitator(other, "bob")
    await bob.accept_facilitation(other, pseudonym="Host Bob")
    await alice.decide(other, bob.member_id(other), role=ROLE_FACILITATOR)
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    await bob.wait_for(lambda: bob.keys[group].current == alice.keys[group].current)
    bob_keys = bob.keys[group].member
    bob_id = bob.member_id(group)

    await alice.remove(group, bob_id)
    await bob.wait_for(lambda: bool(_events(bob, "facilitator.removed")))
    assert _events(bob, "facilitator.removed") == [{"group_id": b64encode(group)}]
    # The same socket can no longer act on the group or see its traffic...
    await _refused("forbidden", bob.facilitators(group))
    await _refused("forbidden", bob.call("invite.list", {"group_id": b64encode(group)}))
    await _refused("forbidden", bob.add_facilitator(group, "alice"))
    # ...while it keeps the group it still facilitates.
    assert [f["username"] for f in await bob.facilitators(other)] == ["alice", "bob"]

    # The group rotates without bob, and bob's keys open nothing new.
    epoch = await alice.rotate(group)
    commit = alice.keys[group].epochs[epoch].commit
    assert commit.entry_of(bob_id) is None
    assert bob_id not in alice.verified_facilitators(group)
    with pytest.raises(VerificationFailed):
        open_commit(commit, bob_keys)
    bob.events.clear()
    await ana.wait_for(lambda: ana.keys[group].current == epoch)
    sent = await ana.send(group, "after bob left")
    await alice.wait_for(lambda: sent["seq"] in alice.inbox.get(group, {}))
    report = await alice.call(
        "report.submit",
        {
            "group_id": b64encode(group),
            "opening": b64encode(alice.report_opening(group, sent["seq"]).encode()),
            "reason": "test",
        },
    )
    assert report["report_id"]
    assert not [e for e, _ in bob.events if e in ("msg", "msg.batch", "report.new")]
    assert {f["username"] for f in await alice.facilitators(group)} == {"alice"}


async def test_the_last_facilitator_stays_and_removals_are_anothers(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Last", pseudonym="Host Heron")
    await _refused("last_facilitator", alice.leave(group))
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    g = b64encode(group)
    alice_id, bob_id = alice.member_id(group), bob.member_id(group)
    # Not one's own removal, not without a signed removal, not signed by the removed one.
    own = sign_removal(group, alice.keys[group].member, alice_id)
    await _refused(
        "forbidden",
        alice.call(
            "member.remove",
            {"group_id": g, "member_id": b64encode(alice_id), "removal": b64encode(own.encode())},
        ),
    )
    await _refused(
        "invalid_authorisation",
        alice.call("member.remove", {"group_id": g, "member_id": b64encode(bob_id)}),
    )
    selfsigned = sign_removal(group, bob.keys[group].member, bob_id)
    await _refused(
        "invalid_authorisation",
        alice.call(
            "member.remove",
            {
                "group_id": g,
                "member_id": b64encode(bob_id),
                "removal": b64encode(selfsigned.encode()),
            },
        ),
    )
    # An admitted facilitator is not withdrawn like an invitation.
    await _refused(
        "invalid_authorisation",
        alice.call("facilitator.remove", {"group_id": g, "username": "bob"}),
    )
    # bob leaves by his own leave; then alice is the last one again.
    await bob.leave(group)
    await alice.wait_for(lambda: bool(_events(alice, "facilitators.changed")))
    await _refused("last_facilitator", alice.leave(group))
    epoch = await alice.rotate(group)
    assert alice.keys[group].current == epoch
    assert alice.verified_facilitators(group) == {alice_id}


async def test_who_may_add_and_admit_facilitators(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Rules", pseudonym="Host Heron")
    g = b64encode(group)
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    bob = await _logged_in(make_client, hearth_server, "bob")
    carol = await _logged_in(make_client, hearth_server, "carol")
    # a member cannot add, withdraw or list facilitators, or act as one
    await _refused("forbidden", ana.add_facilitator(group, "bob"))
    await _refused(
        "forbidden", ana.call("facilitator.remove", {"group_id": g, "username": "alice"})
    )
    await _refused("forbidden", ana.facilitators(group))
    # malformed payloads of each new event
    for event, payload in (
        ("facilitators.list", {"group_id": "short"}),
        ("facilitators.list", {"group_id": g, "more": 1}),
        ("facilitator.remove", {"group_id": g}),
        ("facilitator.remove", {"group_id": g, "username": 7}),
        ("facilitator.accept", {"group_id": g}),
        ("facilitator.accept", {"group_id": g, "member": {"member_id": "x"}}),
        ("facilitator.add", {"username": "bob"}),
    ):
        await _refused("bad_request", alice.call(event, payload))
    await _refused("forbidden", ana.call("invite.list", {"group_id": g}))
    # a facilitator of another group cannot act on this one
    other = await bob.create_group("Bob's", pseudonym="Host Birch")
    await _refused("forbidden", bob.add_facilitator(group, "bob"))
    await _refused("forbidden", alice.add_facilitator(other, "alice"))
    # an account not invited cannot join as a facilitator
    await _refused("forbidden", bob.accept_facilitation(group, pseudonym="Host Birch"))
    # bad input: unknown, empty or overlong username; a second invitation
    await _refused("not_found", alice.add_facilitator(group, "nobody"))
    await _refused("bad_request", alice.call("facilitator.add", {"group_id": g, "username": ""}))
    await _refused("bad_request", alice.add_facilitator(group, "x" * 65))
    await _refused(
        "bad_request", alice.call("facilitator.add", {"group_id": g, "username": "bob", "x": 1})
    )
    await alice.add_facilitator(group, "bob")
    await _refused("already_member", alice.add_facilitator(group, "bob"))
    # invited but not admitted: no power yet
    await bob.wait_for(lambda: bool(_events(bob, "facilitator.invited")))
    await _refused("forbidden", bob.facilitators(group))
    await bob.accept_facilitation(group, pseudonym="Facilitator Birch")  # its role is real
    await _refused("forbidden", bob.facilitators(group))
    await _refused("already_member", bob.accept_facilitation(group, pseudonym="Host B"))
    # a member's admission does not admit a facilitator, nor a facilitator's a member
    pending = next(m for m in (await alice.members(group))["members"] if m["state"] == "pending")
    assert pending["role"] == "facilitator"
    await _refused("invalid_authorisation", alice.decide(group, bob.member_id(group)))
    joiner = make_client()
    await joiner.connect()
    await joiner.join(await alice.create_invite(group), pseudonym="Shy Wren")
    await _refused(
        "invalid_authorisation",
        alice.decide(group, joiner.member_id(group), role=ROLE_FACILITATOR),
    )
    # a facilitator account joining by a link is a member like anyone: no role in its name
    await _refused(
        "pseudonym_invalid", bob.join(await alice.create_invite(group), pseudonym="Facilitator B")
    )
    await _refused(
        "forbidden",
        ana.call("facilitator.accept", {"group_id": g, "member": _keys("Facilitator Ana")}),
    )
    # a withdrawn invitation ends the request
    await alice.add_facilitator(group, "carol")
    await alice.call("facilitator.remove", {"group_id": g, "username": "carol"})
    await _refused("forbidden", carol.accept_facilitation(group, pseudonym="Host Carol"))
    await alice.call("facilitator.remove", {"group_id": g, "username": "bob"})
    await bob.wait_for(lambda: any(d.get("state") == "refused" for d in _events(bob, "membership")))
    await _refused(
        "not_found", alice.call("facilitator.remove", {"group_id": g, "username": "bob"})
    )


async def test_a_server_that_claims_a_facilitator_is_not_believed(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Claims", pseudonym="Host Heron")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    ben = await member_in(make_client, alice, group, "Calm Otter")
    await ben.wait_for(lambda: ben.keys[group].current == alice.keys[group].current)
    ana_id = ana.member_id(group)
    # The database says ana is a facilitator (as a hostile server or database writer would):
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn, conn:
        conn.execute(
            "UPDATE members SET facilitator_id = 1 WHERE group_id = ? AND member_id = ?",
            (group, ana_id),
        )
    await alice.call("group.update", {"group_id": b64encode(group)})  # the server re-reads it
    listed = await ben.call("members.list", {"group_id": b64encode(group)})
    roles = {m["member_id"]: m["role"] for m in listed["members"]}
    assert roles[b64encode(ana_id)] == "facilitator"  # what the server claims
    assert ana_id not in ben.verified_facilitators(group)  # what ben believes

    # A commit making ana a facilitator with only a member's admission is refused by clients.
    held = ben.keys[group]
    assert held.latest is not None
    assert held.state is not None
    epoch = held.latest.epoch
    forged, _ = build_commit(
        group_id=group,
        epoch=epoch + 1,
        prev_commit_hash=held.latest.hash,
        committer=ana.keys[group].member,
        roster=list(held.latest.roster),
        facilitators=sorted({*held.state.facilitators, ana_id}),
    )
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn, conn:
        conn.execute(
            "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (group, epoch + 1, forged.raw, forged.hash, ana_id, int(time.time() * 1000)),
        )
    await _refused("untrusted_commit", ben.sync_epochs(group))
    assert any("facilitators differ" in why for why in ben.keys[group].untrusted)
    assert ana_id not in ben.verified_facilitators(group)


async def test_the_server_refuses_a_commit_granting_the_role_without_a_facilitator(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Grant", pseudonym="Host Heron")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    held = ana.keys[group]
    assert held.latest is not None
    assert held.state is not None
    forged, _ = build_commit(
        group_id=group,
        epoch=held.latest.epoch + 1,
        prev_commit_hash=held.latest.hash,
        committer=held.member,
        roster=list(held.latest.roster),
        facilitators=sorted({*held.state.facilitators, held.member.member_id}),
    )
    await _refused(
        "unauthorised_change",
        ana.call("epoch.commit", {"group_id": b64encode(group), "commit": b64encode(forged.raw)}),
    )


async def test_the_operator_grants_with_the_cli_and_a_facilitator_admits(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Operator", pseudonym="Host Heron")
    bob = await _logged_in(make_client, hearth_server, "bob")
    config = hearth_server.config_path
    for args, error in (
        (("nobody", b64encode(group)), "no facilitator account"),
        (("bob", "not-a-group-id"), "GROUP_ID"),
        (("bob", b64encode(bytes(16))), "no group has this id"),
        # one id in 64 starts with "-": still read as the group's id, not as an option
        (("bob", b64encode(b"\xf8" + bytes(15))), "no group has this id"),
    ):
        refused = await _cli("grant", *args, config=config)
        assert refused.returncode == 1
        assert error in refused.stderr
        assert "Traceback" not in refused.stderr
    granted = await _cli("grant", "bob", b64encode(group), config=config)
    assert granted.returncode == 0, granted.stderr
    again = await _cli("grant", "bob", b64encode(group), config=config)
    assert again.returncode == 1
    assert "already" in again.stderr
    # the grant is an invitation: no power until a facilitator of the group admits bob
    await _refused("forbidden", bob.facilitators(group))
    assert await bob.accept_facilitation(group, pseudonym="Host Birch") == "pending"
    await alice.decide(group, bob.member_id(group), role=ROLE_FACILITATOR)
    assert {f["username"]: f["state"] for f in await bob.facilitators(group)} == {
        "alice": "active",
        "bob": "active",
    }


async def test_a_facilitator_removed_by_a_moderation_decision_loses_power(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Decided", pseudonym="Host Heron")
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    await bob.wait_for(lambda: bob.keys[group].current == alice.keys[group].current)
    bob_id = bob.member_id(group)
    sent = await bob.send(group, "an unkind answer from a facilitator")
    await ana.wait_for(lambda: sent["seq"] in ana.inbox.get(group, {}))
    report = await ana.report(group, sent["seq"], "unkind")
    await alice.wait_for(lambda: bool(_events(alice, "report.new")))
    assert not _events(bob, "report.new")  # never the reported facilitator's to see
    await alice.call(
        "moderation.act", {"report_id": report["report_id"], "action": "remove_member"}
    )
    await bob.wait_for(lambda: bool(_events(bob, "facilitator.removed")))
    await _refused("forbidden", bob.facilitators(group))
    assert [f["username"] for f in await alice.facilitators(group)] == ["alice"]
    epoch = await alice.rotate(group)  # alice's client signs the removal the decision made
    assert alice.verified_facilitators(group) == {alice.member_id(group)}
    assert alice.keys[group].epochs[epoch].commit.entry_of(bob_id) is None
