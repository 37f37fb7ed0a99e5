"""Roster entries and the roster hash (docs/protocol.md §4)."""

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.fields import require_bytes
from crypto.suite import KEM_PK_LEN, MAX_ROSTER, MEMBER_ID_LEN, ROSTER_ENTRY_LEN, SIG_PK_LEN


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One member of an epoch: ``member_id(16) ‖ sig_pk(32) ‖ kem_pk(32)``."""

    member_id: bytes
    sig_pk: bytes
    kem_pk: bytes

    def __post_init__(self) -> None:
        require_bytes("member_id", self.member_id, MEMBER_ID_LEN)
        require_bytes("sig_pk", self.sig_pk, SIG_PK_LEN)
        require_bytes("kem_pk", self.kem_pk, KEM_PK_LEN)

    def encode(self) -> bytes:
        """The 80-byte wire form."""
        return self.member_id + self.sig_pk + self.kem_pk

    @classmethod
    def decode(cls, data: bytes) -> "RosterEntry":
        """Parse the 80-byte wire form."""
        require_bytes("roster entry", data, ROSTER_ENTRY_LEN)
        return cls(
            data[:MEMBER_ID_LEN],
            data[MEMBER_ID_LEN : MEMBER_ID_LEN + SIG_PK_LEN],
            data[MEMBER_ID_LEN + SIG_PK_LEN :],
        )


def sorted_roster(entries: Iterable[RosterEntry]) -> tuple[RosterEntry, ...]:
    """Entries in canonical order (member_id ascending); refuses duplicates and bad sizes."""
    roster = tuple(entries)
    for entry in roster:
        if not isinstance(entry, RosterEntry):
            raise TypeError(f"roster entries must be RosterEntry, not {type(entry).__name__}")
    if not 1 <= len(roster) <= MAX_ROSTER:
        raise ValueError(f"a roster has 1 to {MAX_ROSTER} entries, got {len(roster)}")
    ordered = tuple(sorted(roster, key=lambda entry: entry.member_id))
    for before, after in itertools.pairwise(ordered):
        if before.member_id == after.member_id:
            raise ValueError("roster has a duplicate member_id")
    return ordered


def encode_roster(entries: Iterable[RosterEntry]) -> bytes:
    """Concatenation of the entries sorted by member_id, the input of ``roster_hash``."""
    return b"".join(entry.encode() for entry in sorted_roster(entries))


def roster_hash(entries: Iterable[RosterEntry]) -> bytes:
    """SHA-256 of the encoded roster; bound into every wrap's HPKE info."""
    return hashlib.sha256(encode_roster(entries)).digest()
