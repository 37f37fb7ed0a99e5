"""A newcomer verifies the chain from its invite's anchor (§6.7), never the keying commit alone."""

from __future__ import annotations

import os

import pytest

from crypto.authorisations import sign_admission, sign_removal
from crypto.commits import EpochCommit, build_commit
from crypto.groupstate import UntrustedCommit, advance, anchored_state, genesis_state
from crypto.keys import MemberKeys


def _chain() -> tuple[list[EpochCommit], MemberKeys, MemberKeys, MemberKeys]:
    group_id = os.urandom(16)
    alice, bob, carol = MemberKeys.generate(), MemberKeys.generate(), MemberKeys.generate()
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    state, _ = genesis_state(genesis)
    commits = [genesis]
    for roster, authorisations in (
        ([alice.entry, bob.entry], [sign_admission(group_id, alice, bob.entry, epoch=1)]),
        ([alice.entry], [sign_removal(group_id, alice, bob.member_id)]),
        ([alice.entry, carol.entry], [sign_admission(group_id, alice, carol.entry, epoch=3)]),
    ):
        commit, _ = build_commit(
            group_id=group_id,
            epoch=state.epoch + 1,
            prev_commit_hash=state.commit_hash,
            committer=alice,
            roster=roster,
            facilitators=[alice.member_id],
            authorisations=authorisations,
        )
        state, _ = advance(state, commit)
        commits.append(commit)
    return commits, alice, bob, carol


def test_the_chain_from_the_anchor_keys_the_newcomer_with_the_departures_since() -> None:
    commits, alice, bob, carol = _chain()
    state, changes = anchored_state(commits[1:], (2, commits[1].hash), carol)
    assert state.epoch == 4
    assert bob.member_id in state.departed
    assert [(e, c.kind, c.member_id) for e, c in changes] == [
        (3, "removed", bob.member_id),
        (4, "joined", carol.member_id),
    ]
    # bob's old admission, re-offered to carol's next commit, is refused: she saw him go.
    readmitted, _ = build_commit(
        group_id=commits[0].group_id,
        epoch=5,
        prev_commit_hash=commits[3].hash,
        committer=carol,
        roster=[alice.entry, bob.entry, carol.entry],
        facilitators=[alice.member_id],
        authorisations=[next(iter(commits[1].authorisations))],
    )
    with pytest.raises(UntrustedCommit, match="who left"):
        advance(state, readmitted)


def test_a_made_up_epoch_or_another_anchor_is_refused() -> None:
    commits, alice, _, carol = _chain()
    fake = MemberKeys.generate()
    forged, _ = build_commit(
        group_id=commits[0].group_id,
        epoch=4,
        prev_commit_hash=commits[2].hash,
        committer=fake,
        roster=[alice.entry, fake.entry, carol.entry],
        facilitators=[fake.member_id],
        authorisations=[sign_admission(commits[0].group_id, fake, carol.entry, epoch=3)],
    )
    anchor = (3, commits[2].hash)
    with pytest.raises(UntrustedCommit, match="not a member of the previous epoch"):
        anchored_state([commits[2], forged], anchor, carol)
    # The server cannot start the chain elsewhere: the link names the anchor's hash.
    with pytest.raises(UntrustedCommit, match="not the one the link names"):
        anchored_state([forged], (4, commits[2].hash), carol)
    with pytest.raises(UntrustedCommit, match="not the one the link names"):
        anchored_state(commits[1:], anchor, carol)
    with pytest.raises(UntrustedCommit, match="no commit"):
        anchored_state(commits[2:3], anchor, carol)  # withheld: not keyed
