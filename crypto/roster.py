"""Roster entries and the roster hash (docs/protocol.md §4)."""

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crypto.fields import require_bytes
from crypto.suite import (
    GROUP_ID_LEN,
    KEM_PK_LEN,
    LABEL_PQ_KEY,
    MAX_ROSTER,
    MEMBER_ID_LEN,
    PQ_KEY_LEN,
    PQ_PK_LEN,
    ROSTER_ENTRY_LEN,
    SIG_LEN,
    SIG_PK_LEN,
)


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


@dataclass(frozen=True, slots=True)
class PqKey:
    """A member's ML-KEM-768 public key and its own signature over it (§6.9):
    ``pq_pk(1184) ‖ sig(64)``, ``sig`` = Ed25519(sig_sk, LABEL_PQ_KEY ‖ group_id ‖ member_id ‖
    pq_pk). The signature lets a member add the key to an epoch it was admitted to before it had
    one, without trusting whoever relays it."""

    public: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_bytes("pq_pk", self.public, PQ_PK_LEN)
        require_bytes("pq_sig", self.signature, SIG_LEN)

    def encode(self) -> bytes:
        return self.public + self.signature

    @classmethod
    def decode(cls, data: bytes) -> "PqKey":
        require_bytes("pq key", data, PQ_KEY_LEN)
        return cls(data[:PQ_PK_LEN], data[PQ_PK_LEN:])


def pq_key_message(group_id: bytes, member_id: bytes, pq_pk: bytes) -> bytes:
    """What a member signs to bind its ML-KEM key to its member key in one group."""
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_bytes("member_id", member_id, MEMBER_ID_LEN)
    require_bytes("pq_pk", pq_pk, PQ_PK_LEN)
    return LABEL_PQ_KEY + group_id + member_id + pq_pk


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


def encode_roster(
    entries: Iterable[RosterEntry], pq_keys: Mapping[bytes, PqKey] | None = None
) -> bytes:
    """Concatenation of the entries sorted by member_id, the input of ``roster_hash``; with
    ``pq_keys`` (suite 2) each entry is followed by its member's ``PqKey``."""
    ordered = sorted_roster(entries)
    if pq_keys is None:
        return b"".join(entry.encode() for entry in ordered)
    return b"".join(entry.encode() + pq_keys[entry.member_id].encode() for entry in ordered)


def roster_hash(entries: Iterable[RosterEntry]) -> bytes:
    """SHA-256 of the encoded roster; bound into every wrap's HPKE info."""
    return hashlib.sha256(encode_roster(entries)).digest()
