"""Franking: commitments, rtags and verifiable reports."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.envelopes import OpenedMessage, open_message, seal_message
from crypto.errors import VerificationFailed
from crypto.franking import (
    ReportOpening,
    build_report_opening,
    compute_rtag,
    parse_report_opening,
    verify_report,
)
from crypto.suite import MAX_CONTENT

if TYPE_CHECKING:
    from conftest import Group

KID = 7
FRANK_KEYS = {KID: os.urandom(32), 1: os.urandom(32)}
SERVER_TS = 1_767_225_600_123
NONCE_BITS = range((3 + 16 + 8 + 16 + 16) * 8, (3 + 16 + 8 + 16 + 16 + 12) * 8)


def opened(group: Group, content: bytes = "I need help 🙏".encode()) -> OpenedMessage:
    sender = group.members[1]
    envelope = seal_message(
        epoch_secret=group.epoch_secret,
        group_id=group.group_id,
        epoch=1,
        sender=sender,
        msg_id=os.urandom(16),
        content=content,
    )
    return open_message(
        envelope, epoch_secret=group.epoch_secret, sender_sig_pk=sender.signing.public
    )


def report(group: Group, content: bytes = "I need help 🙏".encode()) -> ReportOpening:
    message = opened(group, content)
    rtag = compute_rtag(FRANK_KEYS[KID], message.header, SERVER_TS)
    return build_report_opening(message, server_ts=SERVER_TS, kid=KID, rtag=rtag)


def test_report_round_trip(group: Group) -> None:
    opening = report(group)
    parsed = parse_report_opening(opening.encode())
    assert parsed == opening
    verify_report(parsed, FRANK_KEYS)


def test_old_kid_still_verifies_unknown_kid_does_not(group: Group) -> None:
    message = opened(group)
    rtag = compute_rtag(FRANK_KEYS[1], message.header, SERVER_TS)
    verify_report(build_report_opening(message, server_ts=SERVER_TS, kid=1, rtag=rtag), FRANK_KEYS)
    unknown = build_report_opening(message, server_ts=SERVER_TS, kid=2, rtag=rtag)
    with pytest.raises(VerificationFailed):
        verify_report(unknown, FRANK_KEYS)


@settings(max_examples=60, deadline=None)
@given(bit=st.integers(min_value=0))
def test_any_bit_flip_outside_the_nonce_is_rejected(group: Group, bit: int) -> None:
    raw = bytearray(report(group).encode())
    bit %= len(raw) * 8
    if bit in NONCE_BITS:
        bit += len(NONCE_BITS)  # the nonce is not bound: see the next test
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((ValueError, VerificationFailed)):
        verify_report(parse_report_opening(bytes(raw)), FRANK_KEYS)


def test_every_byte_outside_the_nonce_is_covered(group: Group) -> None:
    encoded = report(group).encode()
    for index in range(len(encoded)):
        if index * 8 in NONCE_BITS:
            continue
        raw = bytearray(encoded)
        raw[index] ^= 0x04
        with pytest.raises((ValueError, VerificationFailed)):
            verify_report(parse_report_opening(bytes(raw)), FRANK_KEYS)


def test_the_nonce_is_not_bound_by_rtag_or_commitment(group: Group) -> None:
    """Known property of the v1 spec: neither rtag nor C covers the header's nonce, so a report
    with another nonce verifies. It claims the same sender, message, content and time, so no
    claim changes; the server should still compare the header with the stored envelope."""
    raw = bytearray(report(group).encode())
    raw[NONCE_BITS.start // 8] ^= 1
    verify_report(parse_report_opening(bytes(raw)), FRANK_KEYS)


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=200), data=st.data())
def test_content_differing_by_one_character_is_rejected(
    group: Group, text: str, data: st.DataObject
) -> None:
    opening = report(group, text.encode())
    index = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(
        st.characters(exclude_categories=("Cs",)).filter(lambda c: c != text[index])
    )
    forged_text = text[:index] + replacement + text[index + 1 :]
    forged = ReportOpening(
        opening.header,
        opening.franking_key,
        opening.content_type,
        forged_text.encode(),
        opening.server_ts,
        opening.kid,
        opening.rtag,
    )
    with pytest.raises(VerificationFailed):
        verify_report(forged, FRANK_KEYS)


@settings(max_examples=30, deadline=None)
@given(bit=st.integers(min_value=0, max_value=255))
def test_any_rtag_bit_flip_is_rejected(group: Group, bit: int) -> None:
    opening = report(group)
    rtag = bytearray(opening.rtag)
    rtag[bit // 8] ^= 1 << (bit % 8)
    forged = build_report_opening(opened(group), server_ts=SERVER_TS, kid=KID, rtag=bytes(rtag))
    with pytest.raises(VerificationFailed):
        verify_report(forged, FRANK_KEYS)
    with pytest.raises(VerificationFailed):
        verify_report(
            ReportOpening(
                opening.header,
                opening.franking_key,
                opening.content_type,
                opening.content,
                opening.server_ts,
                opening.kid,
                bytes(rtag),
            ),
            FRANK_KEYS,
        )


def test_rtag_binds_server_time(group: Group) -> None:
    opening = report(group)
    moved = ReportOpening(
        opening.header,
        opening.franking_key,
        opening.content_type,
        opening.content,
        SERVER_TS + 1,
        opening.kid,
        opening.rtag,
    )
    with pytest.raises(VerificationFailed):
        verify_report(moved, FRANK_KEYS)


def test_layout(group: Group) -> None:
    opening = report(group)
    encoded = opening.encode()
    n = len(opening.content)
    assert len(encoded) == 103 + 32 + 1 + 4 + n + 8 + 4 + 32
    assert encoded[136:140] == n.to_bytes(4, "big")
    assert encoded[-44:-36] == SERVER_TS.to_bytes(8, "big")
    assert encoded[-36:-32] == KID.to_bytes(4, "big")


@pytest.mark.parametrize(
    ("offset_from", "value", "message"),
    [
        ("start", b"\x02", "unsupported version 2"),
        ("type", b"\x03", "unknown content_type 3"),
        ("length", (MAX_CONTENT + 1).to_bytes(4, "big"), "longer than"),
        ("length", (2**31).to_bytes(4, "big"), "longer than"),
    ],
)
def test_parse_rejects_malformed(
    group: Group, offset_from: str, value: bytes, message: str
) -> None:
    raw = report(group).encode()
    offset = {"start": 0, "type": 135, "length": 136}[offset_from]
    with pytest.raises(ValueError, match=message):
        parse_report_opening(raw[:offset] + value + raw[offset + len(value) :])


def test_parse_rejects_trailing_and_truncated(group: Group) -> None:
    raw = report(group).encode()
    with pytest.raises(ValueError, match="trailing"):
        parse_report_opening(raw + b"\x00")
    with pytest.raises(ValueError, match="truncated"):
        parse_report_opening(raw[:-1])
    with pytest.raises(TypeError):
        parse_report_opening(bytearray(raw))  # type: ignore[arg-type]


def test_non_utf8_content_is_malformed(group: Group) -> None:
    raw = report(group, b"ab").encode()
    with pytest.raises(ValueError, match="UTF-8"):
        parse_report_opening(raw[:140] + b"\xff\xfe" + raw[142:])


def test_compute_rtag_input_checks(group: Group) -> None:
    header = opened(group).header
    with pytest.raises(ValueError, match="frank_key must be 32 bytes"):
        compute_rtag(bytes(16), header, SERVER_TS)
    with pytest.raises(ValueError, match="server_ts must be in"):
        compute_rtag(bytes(32), header, -1)
    with pytest.raises(TypeError):
        compute_rtag(bytes(32), header.encode(), SERVER_TS)  # type: ignore[arg-type]
