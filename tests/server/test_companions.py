"""Companion groups (docs/protocol.md §6.10): the facilitators' hand-over notes and a member's
private request, each a group keyed by the same verified commits, whose roster the server keeps
to the group's facilitators (and the asking member)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from typing import Any

import pytest

from crypto.authorisations import sign_admission
from crypto.commits import build_commit
from crypto.encoding import b64decode, b64encode
from crypto.roster import RosterEntry
from crypto.suite import ROLE_FACILITATOR, ROLE_MEMBER
from server.client import GroupKeys, HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, member_in
from tests.server.test_cofacilitation import _co_facilitator


async def _refused(code: str, call: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await call
    assert caught.value.code == code, caught.value
    assert caught.value.message
    assert "Traceback" not in caught.value.message
    return caught.value


def _genesis(client: HearthClient, group: bytes, companion: bytes) -> bytes:
    """Epoch 1 of a companion: the client's member of the group alone, with its keys there."""
    member = client.keys[group].member
    commit, _ = build_commit(
        group_id=companion,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=member,
        roster=[member.entry],
        facilitators=[member.member_id],
    )
    return commit.raw


async def _create(client: HearthClient, group: bytes, kind: str) -> bytes:
    companion = os.urandom(16)
    raw = _genesis(client, group, companion)
    client.keys[companion] = GroupKeys(client.keys[group].member)
    client._accept_commit(companion, raw)
    await client.call(
        "companion.create",
        {
            "group_id": b64encode(group),
            "companion_id": b64encode(companion),
            "kind": kind,
            "commit": b64encode(raw),
        },
    )
    return companion


async def _entry(client: HearthClient, group: bytes, member_id: bytes) -> RosterEntry:
    listing = await client.members(group)
    found = next(m for m in listing["members"] if b64decode(m["member_id"]) == member_id)
    return RosterEntry(member_id, b64decode(found["sig_pk"]), b64decode(found["kem_pk"]))


async def _admit(
    client: HearthClient,
    group: bytes,
    companion: bytes,
    member_id: bytes,
    role: int = ROLE_FACILITATOR,
) -> dict[str, Any]:
    entry = await _entry(client, group, member_id)
    keys = client.keys[companion]
    admission = sign_admission(companion, keys.member, entry, role, epoch=keys.current)
    return await client.call(
        "companion.admit",
        {
            "companion_id": b64encode(companion),
            "member_id": b64encode(member_id),
            "admission": b64encode(admission.encode()),
        },
    )


def _keyed_in(client: HearthClient, group: bytes, companion: bytes) -> None:
    """The client takes part in the companion with the member keys it holds in the group."""
    client.keys[companion] = GroupKeys(client.keys[group].member, as_facilitator=True)


async def _notes(
    server: RunningServer, make_client: Clients
) -> tuple[HearthClient, HearthClient, HearthClient, bytes, bytes]:
    alice = await facilitator(make_client)
    group = await alice.create_group("Tuesday circle", pseudonym="Host Heron")
    bob = await _co_facilitator(make_client, server, alice, group, "bob")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    await bob.wait_for(lambda: bob.keys[group].current == alice.keys[group].current)
    notes = await _create(alice, group, "notes")
    _keyed_in(bob, group, notes)
    await _admit(alice, group, notes, bob.member_id(group))
    await alice.rotate(notes)
    await bob.wait_for(lambda: bob.keys[notes].current == alice.keys[notes].current == 2)
    return alice, bob, ana, group, notes


def _messages_of(client: HearthClient, group: bytes) -> list[str | None]:
    return [r.text for r in client.inbox.get(group, {}).values()]


async def test_notes_reach_the_facilitators_and_never_a_member(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice, bob, ana, group, notes = await _notes(hearth_server, make_client)
    # Both facilitators verify the notes' roster: exactly the group's facilitators' keys.
    assert bob.verified_facilitators(notes) == {alice.member_id(group), bob.member_id(group)}
    text = "Quiet Fox disclosed self-harm on Tuesday, check in"
    reply = await alice.send(notes, text)
    await bob.wait_for(lambda: reply["seq"] in bob.inbox.get(notes, {}))
    assert _messages_of(bob, notes) == [text]
    history, _ = await bob.history(notes)
    assert [(m.seq, m.text) for m in history] == [(reply["seq"], text)]

    # A member of the group receives nothing of it and cannot read it or join it.
    await asyncio.sleep(0.3)
    assert all(data.get("group_id") != b64encode(notes) for _, data in ana.events)
    await _refused("not_member", ana.call("history.get", {"group_id": b64encode(notes)}))
    await _refused("not_member", ana.call("members.list", {"group_id": b64encode(notes)}))
    await _refused("forbidden", ana.call("companions.list", {"group_id": b64encode(group)}))
    await _refused(
        "not_member",
        ana.call(
            "companion.admit",
            {
                "companion_id": b64encode(notes),
                "member_id": b64encode(ana.member_id(group)),
                "admission": "AA",
            },
        ),
    )
    await _refused("forbidden", _create(ana, group, "notes"))
    # ... nor can a facilitator bring her in: only facilitators of the group are admitted.
    await _refused("forbidden", _admit(alice, group, notes, ana.member_id(group)))
    # The groups.list of a member shows no companion; a facilitator's names it.
    assert all(g["companion"] is None for g in (await ana.call("groups.list"))["groups"])
    listed = {g["group_id"]: g for g in (await bob.call("groups.list"))["groups"]}
    assert listed[b64encode(notes)]["companion"]["kind"] == "notes"
    assert listed[b64encode(notes)]["companion"]["group_id"] == b64encode(group)
    kinds = [
        c["kind"]
        for c in (await bob.call("companions.list", {"group_id": b64encode(group)}))["companions"]
    ]
    assert kinds == ["notes"]
    # The notes are kept as long as the group's messages: they follow its retention.
    await alice.call("group.update", {"group_id": b64encode(group), "retention_days": 9})
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn:
        kept = conn.execute("SELECT retention_days FROM groups WHERE group_id = ?", (notes,))
        assert kept.fetchone() == (9,)
    # The database holds no word of the note.
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in hearth_server.directory.glob("hearth.sqlite3*"):
        assert b"self-harm" not in path.read_bytes()


async def test_removing_a_facilitator_rotates_the_group_and_the_notes(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice, bob, ana, group, notes = await _notes(hearth_server, make_client)
    before = (alice.keys[group].current, alice.keys[notes].current)
    bob_id = bob.member_id(group)
    await alice.remove(group, bob_id)
    # The server ended bob's place in the notes too: he receives nothing more of either.
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn:
        state = conn.execute(
            "SELECT state FROM members WHERE group_id = ? AND member_id = ?",
            (notes, bob_id),
        ).fetchone()
    assert state == ("removed",)
    await alice.rotate(group)
    await alice.rotate(notes)
    assert (alice.keys[group].current, alice.keys[notes].current) == (before[0] + 1, 3)
    assert bob_id not in alice.verified_facilitators(notes)
    reply = await alice.send(notes, "handover after bob left")
    await alice.send(group, "group after bob left")
    await ana.wait_for(lambda: ana.keys[group].current == alice.keys[group].current)
    await asyncio.sleep(0.3)
    # bob's client holds no epoch past the ones he had (or forgot the groups altogether)
    assert all(
        bob.keys.get(g) is None or bob.keys[g].current == held
        for g, held in ((notes, 2), (group, before[0]))
    )
    assert "handover after bob left" not in _messages_of(bob, notes)
    await _refused("not_member", bob.call("history.get", {"group_id": b64encode(notes)}))
    assert reply["seq"] > 0


async def test_companion_bad_input_changes_nothing(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice, bob, ana, group, notes = await _notes(hearth_server, make_client)
    # One notes companion per group.
    await _refused("already_exists", _create(bob, group, "notes"))
    # A genesis that seals to anyone else, or of another id, is refused.
    other = os.urandom(16)
    await _refused(
        "invalid_commit",
        ana.call(
            "companion.create",
            {
                "group_id": b64encode(group),
                "companion_id": b64encode(other),
                "kind": "ask",
                "commit": b64encode(_genesis(ana, group, os.urandom(16))),
            },
        ),
    )
    await _refused(
        "invalid_commit",
        ana.call(
            "companion.create",
            {
                "group_id": b64encode(group),
                "companion_id": b64encode(other),
                "kind": "ask",
                "commit": b64encode(_genesis(alice, group, other)),  # sealed to alice
            },
        ),
    )
    # A facilitator does not open a private request.
    await _refused("forbidden", _create(alice, group, "ask"))
    # A companion has no companions.
    await _refused("bad_request", _create(alice, notes, "notes"))
    # Wrong role, wrong signer, garbage: invalid_authorisation.
    carol = await _co_facilitator(make_client, hearth_server, alice, group, "carol")
    await alice.wait_for(lambda: carol.keys[group].current == alice.keys[group].current)
    with pytest.raises(HearthRefused) as caught:
        await _admit(alice, group, notes, carol.member_id(group), ROLE_MEMBER)
    assert caught.value.code == "invalid_authorisation"
    await _refused(
        "invalid_authorisation",
        alice.call(
            "companion.admit",
            {
                "companion_id": b64encode(notes),
                "member_id": b64encode(carol.member_id(group)),
                "admission": b64encode(b"\x01" + bytes(40)),
            },
        ),
    )
    await _refused(
        "bad_request",
        alice.call("companion.admit", {"companion_id": b64encode(notes), "member_id": "x"}),
    )
    await _refused(
        "not_found",
        alice.call(
            "companion.admit",
            {
                "companion_id": b64encode(os.urandom(16)),
                "member_id": b64encode(carol.member_id(group)),
                "admission": "AA",
            },
        ),
    )
    # Nothing was stored: carol is not in the notes, and is admitted once with a good admission.
    await _admit(alice, group, notes, carol.member_id(group))
    await _refused("already_member", _admit(alice, group, notes, carol.member_id(group)))


async def test_a_member_asks_the_facilitators_privately(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Tuesday circle", pseudonym="Host Heron")
    bob = await _co_facilitator(make_client, hearth_server, alice, group, "bob")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    ben = await member_in(make_client, alice, group, "Calm Otter")
    for client in (bob, ana, ben):
        await client.wait_for(lambda c=client: c.keys[group].current == alice.keys[group].current)

    ask = await _create(ana, group, "ask")
    for fac in (alice, bob):
        await fac.wait_for(
            lambda f=fac: any(
                e == "ask.opened" and d["companion_id"] == b64encode(ask) for e, d in f.events
            )
        )
        _keyed_in(fac, group, ask)
    # The member admits the group's facilitators, and no one else.
    await _admit(ana, group, ask, alice.member_id(group))
    await _admit(ana, group, ask, bob.member_id(group))
    await _refused("forbidden", _admit(ana, group, ask, ben.member_id(group)))
    await ana.rotate(ask)
    for fac in (alice, bob):
        await fac.wait_for(lambda f=fac: f.keys[ask].current == ana.keys[ask].current == 2)
    # A second open request from her is refused; another member sees nothing of this one.
    await _refused("already_exists", _create(ana, group, "ask"))
    reply = await ana.send(ask, "I am not safe tonight")
    for fac in (alice, bob):
        await fac.wait_for(lambda f=fac: reply["seq"] in f.inbox.get(ask, {}))
        assert _messages_of(fac, ask) == ["I am not safe tonight"]
    await asyncio.sleep(0.3)
    assert all(data.get("group_id") != b64encode(ask) for _, data in ben.events)
    await _refused("not_member", ben.call("history.get", {"group_id": b64encode(ask)}))
    await _refused("forbidden", ben.call("companions.list", {"group_id": b64encode(group)}))
    await _refused("forbidden", ben.call("ask.claim", {"companion_id": b64encode(ask)}))
    await _refused("forbidden", ben.call("ask.close", {"companion_id": b64encode(ask)}))
    await _refused("forbidden", ana.call("ask.claim", {"companion_id": b64encode(ask)}))

    # "I'll take this": the other facilitator sees who handles it.
    claimed = await alice.call("ask.claim", {"companion_id": b64encode(ask)})
    assert claimed["companion"]["claimed_by"] == "alice"
    await bob.wait_for(lambda: any(e == "companions.changed" for e, _ in bob.events))
    listed = (await bob.call("companions.list", {"group_id": b64encode(group)}))["companions"]
    request = next(c for c in listed if c["kind"] == "ask")
    assert request["claimed_by"] == "alice"
    assert request["asker"] == "Quiet Fox"
    assert not request["closed"]
    await _refused(
        "forbidden", bob.call("ask.claim", {"companion_id": b64encode(ask), "claim": False})
    )
    await _refused(
        "bad_request", bob.call("ask.claim", {"companion_id": b64encode(ask), "claim": "yes"})
    )
    # The member closes it; it is no longer open, and she may ask again later.
    await ana.call("ask.close", {"companion_id": b64encode(ask)})
    listed = (await bob.call("companions.list", {"group_id": b64encode(group)}))["companions"]
    assert next(c for c in listed if c["kind"] == "ask")["closed"]
    await _refused("forbidden", ana.call("ask.close", {"companion_id": b64encode(ask)}))
    await _create(ana, group, "ask")
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in hearth_server.directory.glob("hearth.sqlite3*"):
        assert b"not safe tonight" not in path.read_bytes()
