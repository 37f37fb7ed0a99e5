"""Roster entries, canonical order and hash."""

import hashlib
import os

import pytest

from crypto.keys import MemberKeys
from crypto.roster import RosterEntry, encode_roster, roster_hash
from crypto.suite import MAX_ROSTER


def entry(member_id: bytes) -> RosterEntry:
    return RosterEntry(member_id, os.urandom(32), os.urandom(32))


def test_encode_sorts_by_member_id() -> None:
    entries = [entry(bytes([i]) * 16) for i in (3, 1, 2)]
    encoded = encode_roster(entries)
    assert encoded == b"".join(e.encode() for e in sorted(entries, key=lambda e: e.member_id))
    assert roster_hash(entries) == hashlib.sha256(encoded).digest()
    assert roster_hash(reversed(entries)) == roster_hash(entries)


def test_entry_round_trip() -> None:
    e = MemberKeys.generate().entry
    assert len(e.encode()) == 80
    assert RosterEntry.decode(e.encode()) == e


def test_duplicates_and_sizes_refused() -> None:
    one = entry(bytes(16))
    with pytest.raises(ValueError, match="duplicate"):
        encode_roster([one, RosterEntry(bytes(16), os.urandom(32), os.urandom(32))])
    with pytest.raises(ValueError, match="1 to 1000"):
        encode_roster([])
    too_many = [entry(i.to_bytes(16, "big")) for i in range(MAX_ROSTER + 1)]
    with pytest.raises(ValueError, match="1 to 1000"):
        encode_roster(too_many)
    assert len(encode_roster(too_many[:MAX_ROSTER])) == 80 * MAX_ROSTER


@pytest.mark.parametrize(
    ("member_id", "sig_pk", "kem_pk"),
    [
        (bytes(15), bytes(32), bytes(32)),
        (bytes(16), bytes(33), bytes(32)),
        (bytes(16), bytes(32), b""),
    ],
)
def test_entry_wrong_lengths(member_id: bytes, sig_pk: bytes, kem_pk: bytes) -> None:
    with pytest.raises(ValueError, match="must be"):
        RosterEntry(member_id, sig_pk, kem_pk)


def test_entry_wrong_types() -> None:
    with pytest.raises(TypeError):
        RosterEntry("0" * 16, bytes(32), bytes(32))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_roster([b"x" * 80])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="must be 80 bytes"):
        RosterEntry.decode(bytes(81))
