"""Holes found by attacking the authenticated group state (§6.4–6.6) as a hostile server, a
hostile member and a removed member colluding with the server.

The hostile server is whoever can write the SQLite file: it writes rows between two runs of the
real server, which then serves them. Nothing of Hearth is mocked.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing

import pytest

from crypto.authorisations import sign_admission, sign_invite_admission
from crypto.commits import build_commit
from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from crypto.suite import SIG_PK_LEN
from server.client import HearthClient, HearthRefused, InviteToken
from tests.conftest import Clients, RunningServer, facilitator, member_in


async def _stop(server: RunningServer, *clients: HearthClient) -> None:
    for client in clients:
        await client.disconnect()
    server.stop()


async def _reconnect(server: RunningServer, *clients: HearthClient) -> None:
    server.start()
    for client in clients:
        await client.connect()


def _member_row(conn: sqlite3.Connection, group: bytes, keys: MemberKeys) -> None:
    account = os.urandom(32)
    now = int(time.time() * 1000)
    conn.execute("INSERT INTO accounts (account_pk, created_at) VALUES (?, ?)", (account, now))
    conn.execute(
        "INSERT INTO members (group_id, member_id, account_pk, sig_pk, kem_pk, pseudonym, "
        "skeleton, state, facilitator_id, first_epoch, joined_at, muted_until) "
        "VALUES (?, ?, ?, ?, ?, 'New Face', 'new face', 'active', NULL, NULL, ?, NULL)",
        (group, keys.member_id, account, keys.signing.public, keys.kem.public, now),
    )


async def test_a_spent_invite_link_admits_nobody_later(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    # A one-use invite link, used by ana, who is later removed.
    link = await fac.create_invite(group, max_uses=1)
    assert link.invite_key is not None
    ana = make_client()
    await ana.connect()
    joined, _ = await ana.join(InviteToken.of(link.link), pseudonym="Quiet Fox")
    assert joined == group
    await fac.decide(group, ana.member_id(group))
    await fac.rotate(group)
    await ana.wait_for(lambda: ana.keys[group].current == fac.keys[group].current)
    ben = await member_in(make_client, fac, group, "Calm River")
    await fac.remove(group, ana.member_id(group))
    await fac.rotate(group)
    epoch = fac.keys[group].current

    # Removed ana, colluding with the server, admits a fresh identity of hers with the spent
    # link's key; the server lists it as an active member with that admission.
    await _stop(hearth_server, fac, ben)
    ghost = MemberKeys.generate()
    with closing(sqlite3.connect(hearth_server.database)) as conn, conn:
        (blob,) = conn.execute(
            "SELECT invite_key FROM invite_keys WHERE substr(invite_key, 1, 32) = ?",
            (link.invite_key.public,),
        ).fetchone()
        admission = sign_invite_admission(
            group,
            link.invite_key,
            blob[SIG_PK_LEN : SIG_PK_LEN + 16],
            blob[SIG_PK_LEN + 16 :],
            ghost.entry,
            epoch=epoch,
        )
        _member_row(conn, group, ghost)
        conn.execute(
            "INSERT INTO member_authorisations (group_id, member_id, admission) VALUES (?, ?, ?)",
            (group, ghost.member_id, admission.encode()),
        )
    await _reconnect(hearth_server, fac, ben)

    # An honest member's next commit must not key the ghost.
    for honest in (ben, fac):
        with pytest.raises(HearthRefused) as caught:
            await honest.rotate(group)
        assert caught.value.code == "unauthorised_change"
    assert fac.keys[group].current == epoch


async def test_the_server_alone_cannot_key_a_newcomer_into_a_made_up_epoch(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    link = await fac.create_invite(group)
    ana = make_client()
    await ana.connect()
    await ana.join(InviteToken.of(link.link), pseudonym="Quiet Fox")  # waits for approval
    held = fac.keys[group].latest
    assert held is not None
    await _stop(hearth_server, fac, ana)

    # The server makes up a member, calls it a facilitator and keys ana with it.
    fake = MemberKeys.generate()
    newcomer = ana.keys[group].member
    forged, _ = build_commit(
        group_id=group,
        epoch=held.epoch + 1,
        prev_commit_hash=held.hash,
        committer=fake,
        roster=[*held.roster, fake.entry, newcomer.entry],
        facilitators=[fake.member_id],
        authorisations=[sign_admission(group, fake, newcomer.entry, epoch=held.epoch)],
    )
    with closing(sqlite3.connect(hearth_server.database)) as conn, conn:
        conn.execute(
            "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (group, forged.epoch, forged.raw, forged.hash, fake.member_id, int(time.time() * 1000)),
        )
        conn.execute(
            "UPDATE groups SET current_epoch = ? WHERE group_id = ?", (forged.epoch, group)
        )
        conn.execute(
            "UPDATE members SET state = 'active', first_epoch = ? "
            "WHERE group_id = ? AND member_id = ?",
            (forged.epoch, group, newcomer.member_id),
        )
    await _reconnect(hearth_server, ana)

    assert ana.keys[group].latest is None  # the made-up epoch is refused
    assert any("not a member of the previous epoch" in why for why in ana.keys[group].untrusted)
    with pytest.raises(HearthRefused):
        await ana.send(group, "for the group only")


async def test_a_member_cannot_flag_honest_commits_at_will(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Trust", pseudonym="Host Birch")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    gid = b64encode(group)
    honest = fac.keys[group].current  # fac's commit keyed ana; her wrap opened

    async def flag(epoch: int) -> str | None:
        try:
            await ana.call("epoch.flag", {"group_id": gid, "epoch": epoch})
        except HearthRefused as refused:
            return refused.code
        return None

    # The current epoch: no member recovered on top of it (§6.6), so no wrap of it failed.
    assert await flag(honest) == "wrong_epoch"
    await member_in(make_client, fac, group, "Calm River")
    own = await ana.rotate(group)
    await fac.rotate(group)
    assert await flag(own) == "forbidden"  # her own commit
    # However often she flags an epoch, the facilitators hear of it once.
    for _ in range(3):
        assert await flag(honest) is None
    assert await flag(honest + 1) is None
    await fac.wait_for(
        lambda: any(e == "commit.flagged" and d["epoch"] == honest + 1 for e, d in fac.events)
    )
    told = [d["epoch"] for e, d in fac.events if e == "commit.flagged"]
    assert told == [honest, honest + 1]
    audit = await fac.call("audit.list", {"group_id": gid})
    assert sum(entry["action"] == "flag_commit" for entry in audit["entries"]) == 2
