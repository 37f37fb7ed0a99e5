"""crypto.groupstate: a commit is accepted only if it extends the chain by authorised changes."""

import json
import os
from pathlib import Path
from typing import Any

import pytest

from crypto.authorisations import (
    Admission,
    Authorisation,
    certify_invite,
    parse_authorisation,
    sign_admission,
    sign_invite_admission,
    sign_leave,
    sign_removal,
)
from crypto.commits import EpochCommit, build_commit, parse_commit
from crypto.groupstate import (
    GroupState,
    UntrustedCommit,
    advance,
    genesis_state,
    keyed_state,
)
from crypto.keys import KemKey, MemberKeys, SigningKey
from crypto.suite import ROLE_FACILITATOR

# An invite certificate's bounds (§6.4): made at epoch 2 (where _start leaves the chain), good
# for a long time, admitting up to 5 members by itself.
BOUND = {"issued_epoch": 2, "not_after": 2**62, "max_admits": 5}

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "hearth-v1.json").read_text()
)


def _member(name: str) -> MemberKeys:
    m = next(m for m in RECORDED["members"] if m["name"] == name)
    return MemberKeys(
        bytes.fromhex(m["member_id"]),
        SigningKey.from_raw(bytes.fromhex(m["sig_sk"])),
        KemKey.from_raw(bytes.fromhex(m["kem_sk"])),
    )


def _commit(name: str) -> EpochCommit:
    return parse_commit(bytes.fromhex(RECORDED["chain"][name]))


def test_recorded_chain_verifies_with_its_changes() -> None:
    alice, bob, carol = _member("alice"), _member("bob"), _member("carol")
    state, changes = genesis_state(_commit("genesis"))
    assert state.facilitators == {alice.member_id}
    assert [(c.kind, c.member_id) for c in changes] == [("joined", alice.member_id)]
    state, changes = advance(state, _commit("epoch2"))
    assert [(c.kind, c.member_id, c.by, c.issuer) for c in changes] == [
        ("joined", bob.member_id, alice.member_id, None),
        ("joined", carol.member_id, None, alice.member_id),
    ]
    state, changes = advance(state, _commit("epoch3"))
    assert [(c.kind, c.member_id, c.by) for c in changes] == [
        ("left", carol.member_id, carol.member_id),
        ("removed", bob.member_id, alice.member_id),
    ]
    assert state.roster == (alice.entry,)
    assert state.departed == {bob.member_id, carol.member_id}


def test_recorded_authorisations_regenerate() -> None:
    auth = RECORDED["authorisations"]
    for name in (
        "admit_bob",
        "invite_admit_carol",
        "invite_admit_hidden",
        "leave_carol",
        "remove_bob",
    ):
        assert parse_authorisation(bytes.fromhex(auth[name])).encode().hex() == auth[name]


def test_hidden_member_is_refused() -> None:
    state, _ = genesis_state(_commit("genesis"))
    with pytest.raises(UntrustedCommit, match="roster differs"):
        advance(state, _commit("forged_hidden_member"))


def test_a_replayed_admission_and_a_spent_invite_are_refused() -> None:
    state, _ = genesis_state(_commit("genesis"))
    for name in ("epoch2", "epoch3"):
        state, _ = advance(state, _commit(name))
    assert state.admits_of(bytes.fromhex(RECORDED["authorisations"]["invite_pk"])) == 1
    with pytest.raises(UntrustedCommit, match="who left"):
        advance(state, _commit("replayed_admission"))
    with pytest.raises(UntrustedCommit, match="more members than its certificate allows"):
        advance(state, _commit("spent_invite"))


def test_newcomer_verifies_its_own_admission() -> None:
    carol = _member("carol")
    state, changes = keyed_state(
        _commit("epoch2"), carol, bytes.fromhex(RECORDED["authorisations"]["invite_pk"])
    )
    assert state.epoch == 2
    assert {c.member_id for c in changes} == {_member("bob").member_id, carol.member_id}
    with pytest.raises(UntrustedCommit, match="not from our invite"):
        keyed_state(_commit("epoch2"), carol, os.urandom(32))


# -- a live group: alice (facilitator), bob ---------------------------------------------------


def _start() -> tuple[bytes, MemberKeys, MemberKeys, GroupState]:
    group_id = os.urandom(16)
    alice, bob = MemberKeys.generate(), MemberKeys.generate()
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    state, _ = genesis_state(genesis)
    second, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry, bob.entry],
        facilitators=[alice.member_id],
        authorisations=[sign_admission(group_id, alice, bob.entry, epoch=1)],
    )
    state, _ = advance(state, second)
    return group_id, alice, bob, state


def _next(
    state: GroupState,
    committer: MemberKeys,
    roster: list[Any],
    authorisations: list[Authorisation] = [],  # noqa: B006 - never mutated
    **overrides: Any,
) -> EpochCommit:
    fields: dict[str, Any] = {
        "group_id": state.group_id,
        "epoch": state.epoch + 1,
        "prev_commit_hash": state.commit_hash,
        "committer": committer,
        "roster": roster,
        "facilitators": sorted(state.facilitators),
        "authorisations": authorisations,
    }
    fields.update(overrides)
    return build_commit(**fields)[0]


def test_chain_rules() -> None:
    group_id, alice, bob, state = _start()
    eve = MemberKeys.generate()
    cases: list[tuple[EpochCommit, str]] = [
        (_next(state, bob, [alice.entry, bob.entry], epoch=state.epoch + 2), "follow"),
        (_next(state, bob, [alice.entry, bob.entry], prev_commit_hash=os.urandom(32)), "extend"),
        (_next(state, bob, [alice.entry, bob.entry], group_id=os.urandom(16)), "another group"),
        (_next(state, eve, [alice.entry, bob.entry, eve.entry]), "not a member"),
        # bob is no facilitator: his admission of eve does not count
        (
            _next(
                state,
                bob,
                [alice.entry, bob.entry, eve.entry],
                [sign_admission(group_id, bob, eve.entry, epoch=state.epoch)],
            ),
            "not signed by a facilitator",
        ),
        # an admission signed for another group
        (
            _next(
                state,
                bob,
                [alice.entry, bob.entry, eve.entry],
                [sign_admission(os.urandom(16), alice, eve.entry, epoch=state.epoch)],
            ),
            "does not verify",
        ),
        # bob dropped without a removal
        (_next(state, alice, [alice.entry]), "roster differs"),
        # bob removes alice: not a facilitator
        (
            _next(
                state,
                bob,
                [bob.entry],
                [sign_removal(group_id, bob, alice.member_id)],
                facilitators=[],
            ),
            "not signed by a facilitator",
        ),
        # bob makes himself facilitator
        (
            _next(
                state,
                bob,
                [alice.entry, bob.entry],
                facilitators=sorted([alice.member_id, bob.member_id]),
            ),
            "facilitators differ",
        ),
    ]
    for commit, reason in cases:
        with pytest.raises(UntrustedCommit, match=reason):
            advance(state, commit)


def test_leave_and_no_readmission() -> None:
    group_id, alice, bob, state = _start()
    left = _next(state, alice, [alice.entry], [sign_leave(group_id, bob)])
    after, changes = advance(state, left)
    assert [(c.kind, c.member_id) for c in changes] == [("left", bob.member_id)]
    back = _next(
        after,
        alice,
        [alice.entry, bob.entry],
        [sign_admission(group_id, alice, bob.entry, epoch=state.epoch)],
    )
    with pytest.raises(UntrustedCommit, match="who left"):
        advance(after, back)


def test_invite_admission_and_co_facilitator() -> None:
    group_id, alice, bob, state = _start()
    invite = SigningKey.generate()
    certificate = certify_invite(group_id, alice, invite.public, **BOUND)
    carol, dan = MemberKeys.generate(), MemberKeys.generate()
    admitted = [
        sign_invite_admission(
            group_id, invite, alice.member_id, certificate, carol.entry, epoch=state.epoch
        ),
        sign_admission(group_id, alice, dan.entry, ROLE_FACILITATOR, epoch=state.epoch),
    ]
    commit = _next(
        state,
        bob,
        [alice.entry, bob.entry, carol.entry, dan.entry],
        admitted,
        facilitators=sorted([alice.member_id, dan.member_id]),
    )
    after, _ = advance(state, commit)
    assert after.facilitators == {alice.member_id, dan.member_id}
    # an invite certified by bob (no facilitator) admits nobody
    bad_cert = certify_invite(group_id, bob, invite.public, **BOUND)
    erin = MemberKeys.generate()
    forged = _next(
        state,
        bob,
        [alice.entry, bob.entry, erin.entry],
        [
            sign_invite_admission(
                group_id, invite, bob.member_id, bad_cert, erin.entry, epoch=state.epoch
            )
        ],
    )
    with pytest.raises(UntrustedCommit, match="certified by a facilitator"):
        advance(state, forged)
    assert isinstance(admitted[1], Admission)


def _with_co_facilitator() -> tuple[bytes, MemberKeys, MemberKeys, MemberKeys, GroupState]:
    """alice (facilitator) and bob (member), then dan admitted by alice as co-facilitator."""
    group_id, alice, bob, state = _start()
    dan = MemberKeys.generate()
    commit = _next(
        state,
        alice,
        [alice.entry, bob.entry, dan.entry],
        [sign_admission(group_id, alice, dan.entry, ROLE_FACILITATOR, epoch=state.epoch)],
        facilitators=sorted([alice.member_id, dan.member_id]),
    )
    state, changes = advance(state, commit)
    assert [(c.kind, c.role) for c in changes] == [("joined", ROLE_FACILITATOR)]
    return group_id, alice, bob, dan, state


def test_a_facilitator_is_removed_by_another_facilitator() -> None:
    group_id, alice, bob, dan, state = _with_co_facilitator()
    commit = _next(
        state,
        dan,
        [bob.entry, dan.entry],
        [sign_removal(group_id, dan, alice.member_id)],
        facilitators=[dan.member_id],
    )
    after, changes = advance(state, commit)
    assert after.facilitators == {dan.member_id}
    assert [(c.kind, c.member_id, c.by) for c in changes] == [
        ("removed", alice.member_id, dan.member_id)
    ]


def test_a_facilitator_cannot_sign_their_own_removal() -> None:
    group_id, alice, bob, dan, state = _with_co_facilitator()
    commit = _next(
        state,
        dan,
        [bob.entry, dan.entry],
        [sign_removal(group_id, alice, alice.member_id)],
        facilitators=[dan.member_id],
    )
    with pytest.raises(UntrustedCommit, match="signed by the removed member"):
        advance(state, commit)


def test_a_co_facilitator_leaves_but_the_last_one_cannot() -> None:
    group_id, alice, bob, dan, state = _with_co_facilitator()
    left = _next(
        state,
        alice,
        [alice.entry, bob.entry],
        [sign_leave(group_id, dan)],
        facilitators=[alice.member_id],
    )
    after, _ = advance(state, left)
    assert after.facilitators == {alice.member_id}
    alone = _next(after, bob, [bob.entry], [sign_leave(group_id, alice)], facilitators=[])
    with pytest.raises(UntrustedCommit, match="without a facilitator"):
        advance(after, alone)


def test_a_member_cannot_grant_the_facilitator_role() -> None:
    group_id, alice, bob, state = _start()
    eve = MemberKeys.generate()
    commit = _next(
        state,
        bob,
        [alice.entry, bob.entry, eve.entry],
        [sign_admission(group_id, bob, eve.entry, ROLE_FACILITATOR, epoch=state.epoch)],
        facilitators=sorted([alice.member_id, eve.member_id]),
    )
    with pytest.raises(UntrustedCommit, match="not signed by a facilitator"):
        advance(state, commit)
    # a member admission cannot be listed as a facilitator either
    plain = _next(
        state,
        alice,
        [alice.entry, bob.entry, eve.entry],
        [sign_admission(group_id, alice, eve.entry, epoch=state.epoch)],
        facilitators=sorted([alice.member_id, eve.member_id]),
    )
    with pytest.raises(UntrustedCommit, match="facilitators differ"):
        advance(state, plain)
