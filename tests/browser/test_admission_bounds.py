"""The page's bounded admissions (docs/protocol.md §6.4–6.5): an invite link's key admits no more
members than its certificate allows, and an old admission never brings back someone who left,
also for a newcomer who never saw them leave. A hostile server is simulated by writing to the
real server's SQLite file."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from contextlib import closing
from typing import Any

import pytest
from playwright.sync_api import expect

from crypto.authorisations import sign_admission, sign_invite_admission, sign_removal
from crypto.commits import build_commit
from crypto.encoding import b64decode
from crypto.groupstate import advance, genesis_state
from crypto.keys import MemberKeys, SigningKey
from crypto.suite import MEMBER_ID_LEN, SIG_PK_LEN
from tests.browser.steps import (
    Pages,
    create_group,
    create_invite,
    facilitator_logs_in,
    keyed_member,
    member_joins,
)
from tests.browser.test_group_trust import _group_of, _insert_hidden_member

pytestmark = pytest.mark.browser


def test_the_console_refuses_to_key_someone_let_in_by_a_spent_invite(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Open door", join="open")
    console.fill("#invite-uses", "1")
    link = create_invite(console)
    keyed_member(pages, link, "Quiet Fox")  # the link's one use
    group, epoch = _group_of(pages.server.database, "Open door")

    # Whoever kept the link signs a new identity's admission with its key at the current epoch;
    # the database writer lists that identity as an active member with it.
    seed = re.search(r"[&#]key=([A-Za-z0-9_-]+)", "#" + link)
    assert seed is not None
    invite_key = SigningKey.from_raw(b64decode(seed.group(1)))
    ghost = MemberKeys.generate(hybrid=True)
    with closing(sqlite3.connect(pages.server.database, timeout=10)) as conn, conn:
        (blob,) = conn.execute(
            "SELECT invite_key FROM invite_keys WHERE substr(invite_key, 1, 32) = ?",
            (invite_key.public,),
        ).fetchone()
        cert_at = SIG_PK_LEN + MEMBER_ID_LEN
        admission = sign_invite_admission(
            group,
            invite_key,
            bytes(blob[SIG_PK_LEN:cert_at]),
            bytes(blob[cert_at:]),
            ghost.entry,
            epoch=epoch,
        )
        _insert_hidden_member(conn, group, ghost, None)
        conn.execute(
            "INSERT INTO member_authorisations (group_id, member_id, admission) VALUES (?, ?, ?)",
            (group, ghost.member_id, admission.encode()),
        )

    # A real newcomer with a fresh link makes the console rotate: it will not key the ghost.
    console.fill("#invite-uses", "5")
    console.click("#invite-form button[type=submit]")
    expect(console.locator("#invite-link")).not_to_have_value(re.compile(re.escape(link)))
    member_joins(pages, console.input_value("#invite-link").split("#", 1)[1], "Bright Wren")
    expect(console.locator("#status")).to_contain_text("Key rotation failed")
    expect(console.locator("#status")).to_contain_text("admitted all the members")
    time.sleep(1)  # the member's page tries too, after its own delay
    with closing(sqlite3.connect(pages.server.database)) as conn:
        keyed = conn.execute(
            "SELECT first_epoch FROM members WHERE group_id = ? AND member_id = ?",
            (group, ghost.member_id),
        ).fetchone()
        current = conn.execute(
            "SELECT current_epoch FROM groups WHERE group_id = ?", (group,)
        ).fetchone()
    assert keyed == (None,)
    assert current == (epoch,)


def _chain_with_a_removal() -> tuple[dict[str, str], MemberKeys, bytes]:
    """alice's group: bob admitted at epoch 2 and removed at 3, carol admitted at 4; then an
    epoch 5 that brings bob back with his admission of epoch 1."""
    group_id = os.urandom(16)
    alice, bob, carol = MemberKeys.generate(), MemberKeys.generate(), MemberKeys.generate()
    chiefs = [alice.member_id]
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=chiefs,
    )
    old = sign_admission(group_id, alice, bob.entry, epoch=1)
    state, _ = genesis_state(genesis)
    commit = genesis
    for roster, authorisations in (
        ([alice.entry, bob.entry], [old]),
        ([alice.entry], [sign_removal(group_id, alice, bob.member_id)]),
        ([alice.entry, carol.entry], [sign_admission(group_id, alice, carol.entry, epoch=3)]),
    ):
        commit, _ = build_commit(
            group_id=group_id,
            epoch=state.epoch + 1,
            prev_commit_hash=state.commit_hash,
            committer=alice,
            roster=roster,
            facilitators=chiefs,
            authorisations=authorisations,
        )
        state, _ = advance(state, commit)
    back, _ = build_commit(
        group_id=group_id,
        epoch=5,
        prev_commit_hash=commit.hash,
        committer=carol,
        roster=[alice.entry, bob.entry, carol.entry],
        facilitators=chiefs,
        authorisations=[old],
    )
    return {"keying": commit.raw.hex(), "back": back.raw.hex()}, carol, group_id


def test_a_newcomers_page_refuses_a_removed_members_old_admission(crypto_page: Any) -> None:
    commits, carol, _ = _chain_with_a_removal()
    result = crypto_page.evaluate(
        """async (v) => {
            const hc = window.hc;
            const gs = await import('/js/groupstate.js');
            const carol = { memberId: hc.unhex(v.id), signing: { publicKey: hc.unhex(v.sig) },
                            kem: { publicKey: hc.unhex(v.kem) } };
            const { state } = await gs.keyedState(await hc.parseCommit(hc.unhex(v.keying)), carol);
            const back = await hc.parseCommit(hc.unhex(v.back));
            try { await gs.advance(state, back); return "accepted"; }
            catch (e) { return e instanceof gs.UntrustedCommit ? e.message : String(e); }
        }""",
        {
            **commits,
            "id": carol.member_id.hex(),
            "sig": carol.signing.public.hex(),
            "kem": carol.kem.public.hex(),
        },
    )
    assert "not for this epoch" in result


def test_the_page_commits_an_invite_admission_only_having_counted_its_uses(
    crypto_page: Any,
) -> None:
    """A newcomer keyed after an invite was made did not see its earlier uses: its page does not
    commit that invite's admissions; the facilitator's, which saw them all, may."""
    group_id = os.urandom(16)
    alice, ana = MemberKeys.generate(), MemberKeys.generate()
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    rotation, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    keying, _ = build_commit(
        group_id=group_id,
        epoch=3,
        prev_commit_hash=rotation.hash,
        committer=alice,
        roster=[alice.entry, ana.entry],
        facilitators=[alice.member_id],
        authorisations=[sign_admission(group_id, alice, ana.entry, epoch=2)],
    )
    result = crypto_page.evaluate(
        """async (v) => {
            const hc = window.hc;
            const gs = await import('/js/groupstate.js');
            const invite = await hc.generateSigningKey();
            const alice = { memberId: hc.unhex(v.aliceId), signing: await hc.importSigningKey(
                hc.unhex(v.aliceSk)) };
            const cert = await hc.certifyInvite(hc.unhex(v.group), alice, invite.publicKey,
                { issuedEpoch: 1, notAfter: Date.now() + 3600000, maxAdmits: 3 });
            const stranger = { memberId: hc.randomBytes(16), sigPk: hc.randomBytes(32),
                               kemPk: hc.randomBytes(32) };
            const admission = await hc.signInviteAdmission(hc.unhex(v.group), invite,
                alice.memberId, cert, stranger, 3);
            const ana = { memberId: hc.unhex(v.anaId), signing: { publicKey: hc.unhex(v.anaSig) },
                          kem: { publicKey: hc.unhex(v.anaKem) } };
            const keying = await hc.parseCommit(hc.unhex(v.keying));
            const newcomer = (await gs.keyedState(keying, ana)).state;
            let held = (await gs.genesisState(await hc.parseCommit(hc.unhex(v.genesis)))).state;
            for (const name of ["rotation", "keying"]) {
              held = (await gs.advance(held, await hc.parseCommit(hc.unhex(v[name])))).state;
            }
            const expired = { ...cert, notAfter: Date.now() - 1 };
            return {
              newcomer: gs.inviteAdmissionRefusal(newcomer, admission, Date.now()),
              facilitator: gs.inviteAdmissionRefusal(held, admission, Date.now()),
              expired: gs.inviteAdmissionRefusal(held, { ...admission, certificate: expired },
                                                 Date.now()),
            };
        }""",
        {
            "group": group_id.hex(),
            "aliceId": alice.member_id.hex(),
            "aliceSk": alice.signing.raw().hex(),
            "anaId": ana.member_id.hex(),
            "anaSig": ana.signing.public.hex(),
            "anaKem": ana.kem.public.hex(),
            "genesis": genesis.raw.hex(),
            "rotation": rotation.raw.hex(),
            "keying": keying.raw.hex(),
        },
    )
    assert result["newcomer"] == "this client did not see every commit since the invite was made"
    assert result["facilitator"] is None
    assert result["expired"] == "the invite has expired"
