"""A hostile server cannot add a member: the honest client verifies the group (§6.4–6.5).

The attacker here is whoever can write the SQLite file (a compromised server, a database
writer): it writes rows between two runs of the real server, which then serves them. Nothing of
Hearth is mocked; the honest side is server/client.py with the real cryptography.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from contextlib import closing

import pytest

from crypto.authorisations import sign_admission
from crypto.commits import EpochCommit, build_commit
from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from crypto.mac import hmac_sha256
from crypto.schedule import confirm_key
from crypto.suite import LABEL_COMMIT_SIG, SUITE_HYBRID
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, member_in


def _hidden_member_row(
    conn: sqlite3.Connection, group: bytes, hidden: MemberKeys, epoch: int | None
) -> bytes:
    account = os.urandom(32)
    now = int(time.time() * 1000)
    conn.execute("INSERT INTO accounts (account_pk, created_at) VALUES (?, ?)", (account, now))
    conn.execute(
        "INSERT INTO members (group_id, member_id, account_pk, sig_pk, kem_pk, pseudonym, "
        "skeleton, state, facilitator_id, first_epoch, joined_at, muted_until) "
        "VALUES (?, ?, ?, ?, ?, 'Ghost', 'ghost', 'active', NULL, ?, ?, NULL)",
        (group, hidden.member_id, account, hidden.signing.public, hidden.kem.public, epoch, now),
    )
    return account


async def _stop(server: RunningServer, *clients: HearthClient) -> None:
    """The attacker writes the file while the server is down; it serves the rows after."""
    for client in clients:
        await client.disconnect()
    server.stop()


async def _reconnect(server: RunningServer, *clients: HearthClient) -> None:
    server.start()
    for client in clients:
        await client.connect()


async def test_hidden_member_in_the_database_is_never_keyed(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    epoch = fac.keys[group].current
    await _stop(hearth_server, fac, ana)
    hidden = MemberKeys.generate()
    with closing(sqlite3.connect(hearth_server.database)) as conn, conn:
        _hidden_member_row(conn, group, hidden, None)
        # an "admission" the attacker signed itself, claiming the facilitator's member_id
        forged = sign_admission(group, hidden, hidden.entry, epoch=epoch)
        forged_as_facilitator = type(forged)(
            forged.role, forged.epoch, forged.entry, fac.member_id(group), forged.signature
        )
        conn.execute(
            "INSERT INTO member_authorisations (group_id, member_id, admission) VALUES (?, ?, ?)",
            (group, hidden.member_id, forged_as_facilitator.encode()),
        )
    await _reconnect(hearth_server, fac, ana)

    for honest in (fac, ana):
        with pytest.raises(HearthRefused) as caught:
            await honest.rotate(group)
        assert caught.value.code == "unauthorised_change"
        assert "admission does not verify" in caught.value.message
    # nobody committed: the hidden member holds no epoch
    with closing(sqlite3.connect(hearth_server.database)) as conn:
        row = conn.execute(
            "SELECT first_epoch FROM members WHERE group_id = ? AND member_id = ?",
            (group, hidden.member_id),
        ).fetchone()
        current = conn.execute(
            "SELECT current_epoch FROM groups WHERE group_id = ?", (group,)
        ).fetchone()
    assert row == (None,)
    assert current == (epoch,)


async def test_forged_commit_in_the_database_is_refused(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    held = ana.keys[group]
    assert held.latest is not None
    epoch = held.latest.epoch
    await _stop(hearth_server, fac, ana)
    hidden = MemberKeys.generate()
    # A commit of the next epoch that extends the chain and is sealed to everyone, signed by
    # the hidden member it adds (the attacker holds no honest member's key).
    forged, _ = build_commit(
        group_id=group,
        epoch=epoch + 1,
        prev_commit_hash=held.latest.hash,
        committer=hidden,
        roster=[*held.latest.roster, hidden.entry],
        facilitators=held.latest.facilitators,
    )
    with closing(sqlite3.connect(hearth_server.database)) as conn, conn:
        _hidden_member_row(conn, group, hidden, epoch + 1)
        conn.execute(
            "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (group, epoch + 1, forged.raw, forged.hash, hidden.member_id, int(time.time() * 1000)),
        )
        conn.execute("UPDATE groups SET current_epoch = ? WHERE group_id = ?", (epoch + 1, group))
    await _reconnect(hearth_server, fac, ana)

    # The honest member refuses the commit, says why, and stays in the epoch it trusts.
    assert ana.keys[group].current == epoch
    assert any("not a member of the previous epoch" in why for why in ana.keys[group].untrusted)
    with pytest.raises(HearthRefused) as caught:
        await ana.send(group, "for the group only")
    assert caught.value.code == "untrusted_commit"
    with pytest.raises(HearthRefused) as caught:
        await fac.rotate(group)
    assert caught.value.code == "untrusted_commit"
    # nothing was stored for the hidden member to read
    with closing(sqlite3.connect(hearth_server.database)) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM messages WHERE group_id = ?", (group,)
        ).fetchone()
    assert stored == (0,)


async def test_membership_changes_are_verified_and_a_gap_is_filled(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    fac_id, ana_id, ben_id = (c.member_id(group) for c in (fac, ana, ben))
    # ana saw ben admitted by the facilitator
    assert ("joined", ben_id, fac_id) in [
        (c.kind, c.member_id, c.by) for _, c in ana.keys[group].changes
    ]
    # ben verified its own admission in the commit that keyed it
    assert ("joined", ben_id, fac_id) in [
        (c.kind, c.member_id, c.by) for _, c in ben.keys[group].changes
    ]
    # ana goes offline; ben leaves (signed), the facilitator rotates twice
    await ana.disconnect()
    await ben.leave(group)
    first = await fac.rotate(group)
    second = await fac.rotate(group)  # (an epoch-limit style rotation with the same roster)
    assert second == first + 1
    await ana.connect()  # catches up through both, verifying each in order
    assert ana.keys[group].current == second
    assert ("left", ben_id, ben_id) in [
        (c.kind, c.member_id, c.by) for _, c in ana.keys[group].changes
    ]
    assert not ana.keys[group].untrusted
    assert ana_id != fac_id


def _commit_with_a_bad_wrap(committer: MemberKeys, held: EpochCommit, victim: bytes) -> bytes:
    """What a broken or hostile member can send: a commit of the same roster (and suite),
    correctly signed and confirmed, whose wrap for ``victim`` is random bytes."""
    hybrid = held.suite == SUITE_HYBRID
    good, secret = build_commit(
        group_id=held.group_id,
        epoch=held.epoch + 1,
        prev_commit_hash=held.hash,
        committer=committer,
        roster=held.roster,
        facilitators=held.facilitators,
        pq_keys=held.pq_map() if hybrid else None,
    )
    index = next(i for i, e in enumerate(good.roster) if e.member_id == victim)
    # §6.1 / §6.9: 77 header bytes, the roster (with pq keys in suite 2), then the wraps
    entry, wrap = (1328, 1168) if hybrid else (80, 80)
    start = 77 + entry * len(good.roster) + wrap * index
    body = bytearray(good.body)
    body[start : start + wrap] = os.urandom(wrap)
    confirm = hmac_sha256(
        confirm_key(secret, held.group_id, held.epoch + 1), hashlib.sha256(bytes(body)).digest()
    )
    signature = committer.signing.sign(LABEL_COMMIT_SIG + bytes(body) + confirm)
    return bytes(body) + confirm + signature


async def test_a_member_whose_wrap_does_not_open_recovers_and_flags_the_committer(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    held = ben.keys[group].latest
    assert held is not None
    raw = _commit_with_a_bad_wrap(ben.keys[group].member, held, ana.member_id(group))
    bad_epoch = held.epoch + 1
    await ben.call("epoch.commit", {"group_id": b64encode(group), "commit": b64encode(raw)})

    # ana verifies the commit, cannot open her wrap, commits a fresh epoch on top and flags ben
    await ana.wait_for(lambda: ana.keys[group].current == bad_epoch + 1)
    await fac.wait_for(lambda: any(e == "commit.flagged" for e, _ in fac.events))
    flagged = next(d for e, d in fac.events if e == "commit.flagged")
    assert flagged["epoch"] == bad_epoch
    assert flagged["committer_id"] == b64encode(ben.member_id(group))
    audit = await fac.call("audit.list", {"group_id": b64encode(group)})
    assert any(entry["action"] == "flag_commit" for entry in audit["entries"])
    # and the group talks again, ana included
    await ben.wait_for(lambda: ben.keys[group].current == bad_epoch + 1)
    await ana.send(group, "back in")
    await ben.wait_for(lambda: "back in" in ben.texts(group))


async def test_the_author_is_never_the_servers_sender_id(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ack = await ana.send(group, "soon deleted")
    await ana.send(group, "stays")
    await fac.wait_for(lambda: "stays" in fac.texts(group))
    await ana.delete(group, ana.inbox[group][ack["seq"]].msg_id)
    # The database writer names the facilitator as the sender of both rows.
    with closing(sqlite3.connect(hearth_server.database, timeout=10)) as conn, conn:
        conn.execute(
            "UPDATE messages SET sender_id = ? WHERE group_id = ?", (fac.member_id(group), group)
        )
    fac.inbox.clear()  # as a client that has not seen them yet (a fresh device)
    received, _ = await fac.history(group)
    by_text = {m.text: m for m in received}
    assert by_text["stays"].sender_id == ana.member_id(group)  # from the signed header
    assert by_text[None].sender_id == b""  # a tombstone has no signed sender: unknown
