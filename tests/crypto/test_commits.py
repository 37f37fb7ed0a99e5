"""Epoch commits: build, parse, verify, open, forward and backward secrecy of membership."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.commits import build_commit, open_commit, parse_commit, verify_commit
from crypto.errors import VerificationFailed
from crypto.keys import MemberKeys
from crypto.roster import RosterEntry

if TYPE_CHECKING:
    from conftest import Group


def test_every_member_opens_the_same_secret(group: Group) -> None:
    commit = parse_commit(group.commit.raw)
    assert commit == group.commit
    verify_commit(commit)
    for member in group.members:
        assert open_commit(commit, member) == group.epoch_secret
    assert len(commit.raw) == 77 + 160 * len(group.members) + 4 + 96  # no facilitators, no changes
    assert commit.body == commit.raw[:-96]


def test_layout(group: Group) -> None:
    raw = group.commit.raw
    assert raw[:3] == b"\x01\x00\x01"
    assert raw[3:19] == group.group_id
    assert raw[19:27] == (1).to_bytes(8, "big")
    assert raw[27:59] == bytes(32)
    assert raw[59:75] == group.members[0].member_id
    assert raw[75:77] == len(group.members).to_bytes(2, "big")


@settings(max_examples=60, deadline=None)
@given(bit=st.integers(min_value=0))
def test_any_bit_flip_is_rejected(group: Group, bit: int) -> None:
    raw = bytearray(group.commit.raw)
    bit %= len(raw) * 8
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((ValueError, VerificationFailed)):
        open_commit(parse_commit(bytes(raw)), group.members[1])


def test_every_byte_of_the_commit_is_covered(group: Group) -> None:
    """Exhaustive companion of the property above: one flipped bit in each byte position."""
    for index in range(len(group.commit.raw)):
        raw = bytearray(group.commit.raw)
        raw[index] ^= 0x80
        with pytest.raises((ValueError, VerificationFailed)):
            open_commit(parse_commit(bytes(raw)), group.members[1])


def test_removed_member_cannot_open_the_next_epoch(
    new_group: Callable[..., Group],
) -> None:
    group = new_group(4)
    removed, remaining = group.members[3], group.members[:3]
    commit, secret = build_commit(
        group_id=group.group_id,
        epoch=2,
        prev_commit_hash=group.commit.hash,
        committer=remaining[0],
        roster=[m.entry for m in remaining],
    )
    assert secret != group.epoch_secret
    with pytest.raises(VerificationFailed):
        open_commit(commit, removed)
    # Even when the removed member's entry is spliced into a wrap slot, its key opens nothing.
    for wrap in commit.wraps:
        forged = parse_commit(commit.raw.replace(wrap, commit.wraps[0]))
        with pytest.raises(VerificationFailed):
            open_commit(forged, removed)
    assert open_commit(commit, remaining[1]) == secret


@settings(max_examples=10, deadline=None)
@given(size=st.integers(min_value=2, max_value=6), removed=st.integers(min_value=1, max_value=5))
def test_removed_member_never_opens_next_epoch_property(size: int, removed: int) -> None:
    members = [MemberKeys.generate() for _ in range(size)]
    gone = members.pop(removed % size if removed % size else 1)
    commit, _ = build_commit(
        group_id=os.urandom(16),
        epoch=2,
        prev_commit_hash=os.urandom(32),
        committer=members[0],
        roster=[m.entry for m in members],
    )
    with pytest.raises(VerificationFailed):
        open_commit(commit, gone)


def test_substituted_keys_under_my_member_id_fail(group: Group) -> None:
    me = group.members[1]
    impostor = MemberKeys(me.member_id, MemberKeys.generate().signing, MemberKeys.generate().kem)
    with pytest.raises(VerificationFailed):
        open_commit(group.commit, impostor)


def test_signature_by_someone_else_fails(group: Group) -> None:
    other = MemberKeys.generate()
    roster = [*(m.entry for m in group.members), other.entry]
    commit, _ = build_commit(
        group_id=group.group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=other,
        roster=roster,
    )
    # Claim a different committer: the signature no longer matches that member's sig_pk.
    assert commit.raw[59:75] == other.member_id
    forged = commit.raw[:59] + group.members[0].member_id + commit.raw[75:]
    with pytest.raises(VerificationFailed):
        verify_commit(parse_commit(forged))


def test_committer_must_be_in_the_roster(group: Group) -> None:
    with pytest.raises(ValueError, match="committer"):
        build_commit(
            group_id=group.group_id,
            epoch=1,
            prev_commit_hash=bytes(32),
            committer=MemberKeys.generate(),
            roster=[m.entry for m in group.members],
        )


def test_low_order_kem_key_in_roster_is_a_value_error(group: Group) -> None:
    bad = RosterEntry(os.urandom(16), os.urandom(32), bytes(32))
    with pytest.raises(ValueError, match="low-order"):
        build_commit(
            group_id=group.group_id,
            epoch=1,
            prev_commit_hash=bytes(32),
            committer=group.members[0],
            roster=[*(m.entry for m in group.members), bad],
        )


def test_fixed_epoch_secret_is_used(group: Group) -> None:
    secret = os.urandom(32)
    commit, returned = build_commit(
        group_id=group.group_id,
        epoch=5,
        prev_commit_hash=os.urandom(32),
        committer=group.members[2],
        roster=[m.entry for m in group.members],
        epoch_secret=secret,
    )
    assert returned == secret
    assert open_commit(commit, group.members[0]) == secret


def _edit(raw: bytes, offset: int, value: bytes) -> bytes:
    return raw[:offset] + value + raw[offset + len(value) :]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: _edit(raw, 0, b"\x02"), "unsupported version 2"),
        (lambda raw: _edit(raw, 1, b"\x00\x03"), "unsupported suite 3"),
        (lambda raw: _edit(raw, 1, b"\x00\x02"), "truncated"),  # a suite-1 body read as suite 2
        (lambda raw: _edit(raw, 19, bytes(8)), "epoch must be at least 1"),
        (lambda raw: _edit(raw, 75, b"\x00\x00"), "roster size"),
        (lambda raw: _edit(raw, 75, b"\x03\xe9"), "roster size"),
        # The rest no longer lines up: some later field is refused.
        (lambda raw: _edit(raw, 75, b"\x00\x02"), "commit|authorisation|admission"),
        (lambda raw: _edit(raw, 59, os.urandom(16)), "committer is not in the roster"),
        (lambda raw: raw + b"\x00", "expected"),
        (lambda raw: raw[:-1], "expected"),
        (lambda raw: raw[:50], "truncated"),
        (lambda raw: b"", "truncated"),
    ],
)
def test_parse_rejects_malformed(
    group: Group, mutate: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_commit(mutate(group.commit.raw))


def test_parse_rejects_unsorted_roster(group: Group) -> None:
    raw = group.commit.raw
    first, second = raw[77:157], raw[157:237]
    with pytest.raises(ValueError, match="sorted"):
        parse_commit(raw[:77] + second + first + raw[237:])
    with pytest.raises(ValueError, match="sorted"):
        parse_commit(raw[:77] + first + first + raw[237:])


def test_wrong_types(group: Group) -> None:
    with pytest.raises(TypeError):
        parse_commit(bytearray(group.commit.raw))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_commit(group.commit, group.members[0].entry)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_commit(group.commit.raw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="group_id must be 16 bytes"):
        build_commit(
            group_id=bytes(15),
            epoch=1,
            prev_commit_hash=bytes(32),
            committer=group.members[0],
            roster=[m.entry for m in group.members],
        )
