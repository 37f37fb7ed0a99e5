"""The audit hash chain: building, verifying and catching any change."""

from __future__ import annotations

import hashlib
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.audit import (
    GENESIS,
    AuditEntry,
    append,
    canonical_json,
    require_intact,
    verify_chain,
)
from moderation.errors import ChainBroken


def chain(length: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for n in range(length):
        entries.append(
            append(
                entries[-1] if entries else None,
                at=1_700_000_000_000 + n,
                actor="alice",
                action="mute" if n % 2 else "dismiss",
                group_id=b"G" * 16 if n % 3 else None,
                subject=f"report-{n}",
                detail={"minutes": n, "member": b"\x00\xff", "note": "ok ✓"},
            )
        )
    return entries


def test_first_entry_links_to_genesis_and_hash_is_as_specified() -> None:
    first = chain(1)[0]
    assert first.seq == 1
    assert first.prev_hash == GENESIS
    body = (
        '{"action":"dismiss","actor":"alice","at":1700000000000,'
        '"detail":{"member":"AP8","minutes":0,"note":"ok ✓"},"group_id":null,'
        '"seq":1,"subject":"report-0"}'
    ).encode()
    assert canonical_json(first.hashed_fields()) == body
    assert first.entry_hash == hashlib.sha256(GENESIS + body).digest()


def test_an_intact_chain_verifies() -> None:
    entries = chain(6)
    assert verify_chain(entries) is None
    require_intact(entries)
    assert verify_chain([]) is None
    # A tail verifies against the hash of the entry before it.
    assert verify_chain(entries[3:], anchor=entries[2].entry_hash, start_seq=4) is None


def _tampered(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:] if value else b"x"
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "minutes": -1}
    return b"G" * 16  # group_id None


@pytest.mark.parametrize("name", [f.name for f in fields(AuditEntry)])
@pytest.mark.parametrize("index", [0, 2, 4])
def test_changing_any_field_of_any_entry_is_caught_at_its_seq(name: str, index: int) -> None:
    entries = chain(5)
    entries[index] = replace(entries[index], **{name: _tampered(getattr(entries[index], name))})
    assert verify_chain(entries) == index + 1
    with pytest.raises(ChainBroken) as raised:
        require_intact(entries)
    assert raised.value.seq == index + 1


def test_removing_or_reordering_entries_is_caught() -> None:
    entries = chain(5)
    assert verify_chain(entries[:2] + entries[3:]) == 3
    assert verify_chain([entries[1], entries[0], *entries[2:]]) == 1


def test_json_round_trip_keeps_the_chain_verifiable() -> None:
    entries = [AuditEntry.from_json(e.to_json()) for e in chain(4)]
    assert verify_chain(entries) is None


def test_unhashable_detail_is_refused_at_append() -> None:
    with pytest.raises(TypeError):
        append(None, at=0, actor="a", action="warn", group_id=None, subject="s", detail={"x": 1.5})


def test_caller_cannot_change_an_entry_through_its_detail_dict() -> None:
    detail: dict[str, Any] = {"n": 1}
    entry = append(None, at=0, actor="a", action="warn", group_id=None, subject="s", detail=detail)
    detail["n"] = 2
    assert verify_chain([entry]) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.lists(st.dictionaries(st.text(), json_values, max_size=4), min_size=1, max_size=6))
def test_any_chain_built_by_append_verifies(details: list[dict[str, Any]]) -> None:
    entries: list[AuditEntry] = []
    for n, detail in enumerate(details):
        prev = entries[-1] if entries else None
        entries.append(
            append(prev, at=n, actor="a", action="x", group_id=None, subject="s", detail=detail)
        )
    assert verify_chain(entries) is None
    assert verify_chain([AuditEntry.from_json(e.to_json()) for e in entries]) is None
