"""Holes found by attacking the authenticated group state (§6.5) at the level of its rules."""

from __future__ import annotations

import os

import pytest

from crypto.authorisations import sign_admission, sign_removal
from crypto.commits import build_commit
from crypto.groupstate import UntrustedCommit, advance, genesis_state, keyed_state
from crypto.keys import MemberKeys


def test_a_newcomer_refuses_to_readmit_a_removed_member() -> None:
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
    old_admission = sign_admission(group_id, alice, bob.entry, epoch=1)
    steps = [
        ([alice.entry, bob.entry], [old_admission]),  # 2: bob admitted
        ([alice.entry], [sign_removal(group_id, alice, bob.member_id)]),  # 3: bob removed
        ([alice.entry, carol.entry], [sign_admission(group_id, alice, carol.entry, epoch=3)]),  # 4
    ]
    state, _ = genesis_state(genesis)
    commit = genesis
    for roster, authorisations in steps:
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
    newcomer, _ = keyed_state(commit, carol)  # carol is keyed by epoch 4

    # The removed bob, with the server, hands carol's client his old admission to commit.
    readmitted, _ = build_commit(
        group_id=group_id,
        epoch=5,
        prev_commit_hash=commit.hash,
        committer=carol,
        roster=[alice.entry, bob.entry, carol.entry],
        facilitators=chiefs,
        authorisations=[old_admission],
    )
    with pytest.raises(UntrustedCommit, match="who left"):
        advance(state, readmitted)  # alice saw him leave: refused
    with pytest.raises(UntrustedCommit, match="not for this epoch"):
        advance(newcomer, readmitted)  # carol never did: the admission was for epoch 2 only
