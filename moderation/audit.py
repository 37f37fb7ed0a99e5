"""The tamper-evident audit log of moderation actions, as a hash chain (pure: no I/O).

entry_hash = SHA-256(prev_hash ‖ canonical JSON of {seq, at, actor, action, group_id, subject,
detail}); the first entry's prev_hash is 32 zero bytes. Canonical JSON: keys sorted, no
whitespace, UTF-8 (not \\u-escaped), bytes as base64url without padding, integers only.
Changing, inserting, removing or reordering an entry breaks every hash after it; to notice a
rewrite of the whole chain, keep the latest entry_hash somewhere the database thief cannot reach
(e.g. print it in the daily log).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto.encoding import b64decode, b64encode
from moderation.errors import ChainBroken

GENESIS = bytes(32)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return b64encode(value)
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("audit detail keys must be strings")
        return {k: _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    # Floats are refused: their text form differs between languages, and a verifier in another
    # language must reproduce the bytes exactly.
    if value is None or isinstance(value, str | int):
        return value
    raise TypeError(f"audit detail cannot hold {type(value).__name__}")


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(
        _canonical_value(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    actor: str
    action: str
    group_id: bytes | None
    subject: str  # a member id (base64url) or a report id
    detail: Mapping[str, Any]
    prev_hash: bytes
    entry_hash: bytes

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "group_id": self.group_id,
            "subject": self.subject,
            "detail": self.detail,
        }

    def computed_hash(self) -> bytes:
        return hashlib.sha256(self.prev_hash + canonical_json(self.hashed_fields())).digest()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _canonical_value(self.hashed_fields())
        data["prev_hash"] = b64encode(self.prev_hash)
        data["entry_hash"] = b64encode(self.entry_hash)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEntry:
        # detail stays as stored: bytes in it were hashed as their base64url text anyway.
        return cls(
            seq=int(data["seq"]),
            at=int(data["at"]),
            actor=str(data["actor"]),
            action=str(data["action"]),
            group_id=None if data["group_id"] is None else b64decode(data["group_id"]),
            subject=str(data["subject"]),
            detail=dict(data["detail"]),
            prev_hash=b64decode(data["prev_hash"]),
            entry_hash=b64decode(data["entry_hash"]),
        )


def append(
    prev: AuditEntry | None,
    *,
    at: int,
    actor: str,
    action: str,
    group_id: bytes | None,
    subject: str,
    detail: Mapping[str, Any],
) -> AuditEntry:
    """The entry that follows ``prev`` (or the first entry when ``prev`` is None)."""
    prev_hash = GENESIS if prev is None else prev.entry_hash
    fields: dict[str, Any] = {
        "seq": 1 if prev is None else prev.seq + 1,
        "at": at,
        "actor": actor,
        "action": action,
        "group_id": group_id,
        "subject": subject,
        "detail": dict(detail),  # a copy: the caller's dict must not change a hashed entry
    }
    entry_hash = hashlib.sha256(prev_hash + canonical_json(fields)).digest()
    return AuditEntry(**fields, prev_hash=prev_hash, entry_hash=entry_hash)


def verify_chain(
    entries: Iterable[AuditEntry], *, anchor: bytes = GENESIS, start_seq: int = 1
) -> int | None:
    """The seq of the first entry that does not verify, or None when the chain is intact.

    Seqs are counted from ``start_seq`` by position, so a tampered seq field is reported at the
    seq it should have. To verify a tail of the chain, pass the entry_hash of the entry before
    it as ``anchor`` and its seq + 1 as ``start_seq``.
    """
    expected_prev, expected_seq = anchor, start_seq
    for entry in entries:
        try:
            intact = (
                entry.seq == expected_seq
                and entry.prev_hash == expected_prev
                and entry.computed_hash() == entry.entry_hash
            )
        except (TypeError, ValueError):
            intact = False
        if not intact:
            return expected_seq
        expected_prev, expected_seq = entry.entry_hash, expected_seq + 1
    return None


def require_intact(
    entries: Iterable[AuditEntry], *, anchor: bytes = GENESIS, start_seq: int = 1
) -> None:
    """``verify_chain`` that raises ``ChainBroken(seq)`` instead of returning it."""
    broken = verify_chain(entries, anchor=anchor, start_seq=start_seq)
    if broken is not None:
        raise ChainBroken(broken)
