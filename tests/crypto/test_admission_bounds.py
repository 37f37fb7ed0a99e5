"""Admissions bound to an epoch and invite certificates bound in time and uses (§6.4, §6.5).

An admission made at epoch e is valid in the commits of epochs e+1 and e+2 only, so no admission
is ever used twice; an invite key admits members by itself only as often as, and until when, its
certificate says; a committer commits an invite admission only if it counted every commit since
the invite was made.
"""

from __future__ import annotations

import os

import pytest

from crypto.authorisations import (
    Authorisation,
    InviteCertificate,
    LegacyAdmission,
    certify_invite,
    parse_authorisation,
    sign_admission,
    sign_invite_admission,
    sign_removal,
)
from crypto.commits import EpochCommit, build_commit
from crypto.groupstate import (
    GroupState,
    UntrustedCommit,
    advance,
    genesis_state,
    invite_admission_refusal,
    keyed_state,
)
from crypto.keys import MemberKeys, SigningKey
from crypto.suite import AUTH_LEGACY_ADMIT, ROLE_MEMBER, u8

FAR = 2**62  # a not_after no clock reaches


def _commit(
    state: GroupState,
    committer: MemberKeys,
    roster: list[MemberKeys],
    authorisations: list[Authorisation],
    facilitators: list[bytes],
) -> EpochCommit:
    commit, _ = build_commit(
        group_id=state.group_id,
        epoch=state.epoch + 1,
        prev_commit_hash=state.commit_hash,
        committer=committer,
        roster=[m.entry for m in roster],
        facilitators=facilitators,
        authorisations=authorisations,
    )
    return commit


def _group() -> tuple[MemberKeys, GroupState]:
    alice = MemberKeys.generate()
    genesis, _ = build_commit(
        group_id=os.urandom(16),
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    state, _ = genesis_state(genesis)
    return alice, state


def test_an_admission_is_valid_in_the_two_commits_after_it_only() -> None:
    alice, state = _group()
    bob, carol = MemberKeys.generate(), MemberKeys.generate()
    chiefs = [alice.member_id]
    made_at_1 = sign_admission(state.group_id, alice, bob.entry, epoch=1)
    # A rotation lands before the admission is committed: epoch 3 may still carry it.
    state, _ = advance(state, _commit(state, alice, [alice], [], chiefs))
    state, _ = advance(state, _commit(state, alice, [alice, bob], [made_at_1], chiefs))
    assert state.epoch == 3
    # Epoch 4 may not carry an admission made at epoch 1, nor one made for a later epoch.
    for stale in (
        sign_admission(state.group_id, alice, carol.entry, epoch=1),
        sign_admission(state.group_id, alice, carol.entry, epoch=4),
    ):
        commit = _commit(state, alice, [alice, bob, carol], [stale], chiefs)
        with pytest.raises(UntrustedCommit, match="not for this epoch"):
            advance(state, commit)
    fresh = sign_admission(state.group_id, alice, carol.entry, epoch=3)
    advance(state, _commit(state, alice, [alice, bob, carol], [fresh], chiefs))


def test_a_removed_members_admission_cannot_come_back_even_to_a_newcomer() -> None:
    alice, state = _group()
    bob, carol = MemberKeys.generate(), MemberKeys.generate()
    chiefs = [alice.member_id]
    old = sign_admission(state.group_id, alice, bob.entry, epoch=1)
    state, _ = advance(state, _commit(state, alice, [alice, bob], [old], chiefs))
    gone = sign_removal(state.group_id, alice, bob.member_id)
    state, _ = advance(state, _commit(state, alice, [alice], [gone], chiefs))
    keying = _commit(
        state,
        alice,
        [alice, carol],
        [sign_admission(state.group_id, alice, carol.entry, epoch=3)],
        chiefs,
    )
    newcomer, _ = keyed_state(keying, carol)  # carol never saw bob leave
    assert newcomer.departed == frozenset()
    back = _commit(newcomer, carol, [alice, bob, carol], [old], chiefs)
    with pytest.raises(UntrustedCommit, match="not for this epoch"):
        advance(newcomer, back)


def test_a_legacy_admission_parses_but_is_never_accepted() -> None:
    alice, state = _group()
    bob = MemberKeys.generate()
    # The first layout: 0x01 ‖ role ‖ entry ‖ admitter_id ‖ sig (no epoch)
    raw = u8(AUTH_LEGACY_ADMIT) + u8(ROLE_MEMBER) + bob.entry.encode() + alice.member_id
    raw += bytes(64)
    legacy = parse_authorisation(raw)
    assert isinstance(legacy, LegacyAdmission)
    assert legacy.encode() == raw
    commit = _commit(state, alice, [alice, bob], [legacy], [alice.member_id])
    with pytest.raises(UntrustedCommit, match="binds no epoch"):
        advance(state, commit)


def _invite(
    alice: MemberKeys, state: GroupState, *, max_admits: int, not_after: int = FAR
) -> tuple[SigningKey, InviteCertificate]:
    key = SigningKey.generate()
    cert = certify_invite(
        state.group_id,
        alice,
        key.public,
        issued_epoch=state.epoch,
        not_after=not_after,
        max_admits=max_admits,
    )
    return key, cert


def test_an_invite_admits_no_more_members_than_its_certificate_allows() -> None:
    alice, state = _group()
    chiefs = [alice.member_id]
    key, cert = _invite(alice, state, max_admits=2)
    ana, ben, cal = (MemberKeys.generate() for _ in range(3))

    def admit(who: MemberKeys, held: GroupState) -> Authorisation:
        return sign_invite_admission(
            held.group_id, key, alice.member_id, cert, who.entry, epoch=held.epoch
        )

    both = [admit(ana, state), admit(ben, state)]
    state, _ = advance(state, _commit(state, alice, [alice, ana, ben], both, chiefs))
    assert state.admits_of(key.public) == 2
    third = admit(cal, state)
    commit = _commit(state, alice, [alice, ana, ben, cal], [third], chiefs)
    with pytest.raises(UntrustedCommit, match="more members than its certificate allows"):
        advance(state, commit)
    assert invite_admission_refusal(state, third, 0) is not None  # type: ignore[arg-type]


def test_an_invite_of_an_approval_group_admits_nobody_by_itself() -> None:
    alice, state = _group()
    key, cert = _invite(alice, state, max_admits=0)
    ana = MemberKeys.generate()
    admission = sign_invite_admission(
        state.group_id, key, alice.member_id, cert, ana.entry, epoch=state.epoch
    )
    commit = _commit(state, alice, [alice, ana], [admission], [alice.member_id])
    with pytest.raises(UntrustedCommit, match="more members than its certificate allows"):
        advance(state, commit)


def test_a_certificate_binds_its_bounds() -> None:
    alice, state = _group()
    key, cert = _invite(alice, state, max_admits=1)
    ana = MemberKeys.generate()
    widened = InviteCertificate(cert.issued_epoch, cert.not_after, 1000, cert.signature)
    admission = sign_invite_admission(
        state.group_id, key, alice.member_id, widened, ana.entry, epoch=state.epoch
    )
    commit = _commit(state, alice, [alice, ana], [admission], [alice.member_id])
    with pytest.raises(UntrustedCommit, match="invite certificate does not verify"):
        advance(state, commit)


def test_a_committer_needs_every_commit_since_the_invite_and_a_live_certificate() -> None:
    alice, state = _group()
    chiefs = [alice.member_id]
    key, cert = _invite(alice, state, max_admits=5, not_after=10_000)
    ana, ben = MemberKeys.generate(), MemberKeys.generate()
    used = sign_invite_admission(
        state.group_id, key, alice.member_id, cert, ana.entry, epoch=state.epoch
    )
    assert invite_admission_refusal(state, used, 9_999) is None
    assert invite_admission_refusal(state, used, 10_001) == "the invite has expired"
    keying = _commit(state, alice, [alice, ana], [used], chiefs)
    # ana was keyed by the commit that used the invite; a newcomer keyed later (here: ben, by
    # the next commit) did not count the invite's uses before it and must not commit another.
    state, _ = advance(state, keying)
    later = _commit(
        state,
        alice,
        [alice, ana, ben],
        [sign_admission(state.group_id, alice, ben.entry, epoch=state.epoch)],
        chiefs,
    )
    newcomer, _ = keyed_state(later, ben)
    more = sign_invite_admission(
        state.group_id, key, alice.member_id, cert, MemberKeys.generate().entry, epoch=3
    )
    assert invite_admission_refusal(newcomer, more, 0) == (
        "this client did not see every commit since the invite was made"
    )
    # alice, who saw them all, may.
    assert invite_admission_refusal(state, more, 0) is None
