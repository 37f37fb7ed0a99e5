"""Content notes (content type 2, docs/protocol.md §7.3): layout, limits, round trips."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.content import check_content, check_note, noted_text, split_noted
from crypto.envelopes import open_message, parse_envelope, seal_message
from crypto.franking import build_report_opening, compute_rtag, parse_report_opening, verify_report
from crypto.suite import CONTENT_TYPE_NOTED_TEXT, CONTENT_TYPE_TEXT, MAX_CONTENT, MAX_NOTE_CHARS

if TYPE_CHECKING:
    from conftest import Group

# Characters a note may hold: no control, format or line/paragraph separator.
_NOTE_CHARS = st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))
notes = st.text(_NOTE_CHARS, min_size=1, max_size=MAX_NOTE_CHARS).filter(lambda n: n.strip() != "")


def test_layout_is_note_zero_text() -> None:
    assert noted_text("self-harm", "hi") == b"self-harm\x00hi"
    assert split_noted(b"abuse\x00line one\x00line two") == ("abuse", "line one\x00line two")


@settings(max_examples=60, deadline=None)
@given(note=notes, text=st.text(max_size=300))
def test_any_note_and_text_round_trip(note: str, text: str) -> None:
    content = noted_text(note, text)
    check_content(CONTENT_TYPE_NOTED_TEXT, content)
    assert split_noted(content) == (note, text)


@pytest.mark.parametrize(
    ("note", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("n" * (MAX_NOTE_CHARS + 1), "at most 40"),
        ("self\u202eharm", "control or format"),  # bidi override
        ("self\u200bharm", "control or format"),  # zero-width space
        ("self\nharm", "control or format"),
        ("self\x00harm", "control or format"),
        ("self\u2028harm", "control or format"),  # line separator
    ],
)
def test_bad_notes_are_refused(note: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_note(note)
    with pytest.raises(ValueError, match=why):
        noted_text(note, "text")


def test_forty_characters_of_any_script_are_a_note() -> None:
    check_note("é" * MAX_NOTE_CHARS)
    check_note("\N{SMILING FACE WITH HALO}" * MAX_NOTE_CHARS)  # 160 bytes, 40 characters


def test_note_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        check_note(b"abuse")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "content",
    [b"no end", b"\x00text", b"\xffnote\x00text", b"note\x00\xff", b"a\xe2\x80\xae\x00t"],
)
def test_malformed_noted_content_is_refused(content: bytes) -> None:
    with pytest.raises(ValueError, match=r"content|note"):
        check_content(CONTENT_TYPE_NOTED_TEXT, content)


def test_noted_content_counts_towards_the_size_limit() -> None:
    check_content(CONTENT_TYPE_NOTED_TEXT, b"n\x00" + b"x" * (MAX_CONTENT - 2))
    with pytest.raises(ValueError, match="at most"):
        check_content(CONTENT_TYPE_NOTED_TEXT, b"n\x00" + b"x" * (MAX_CONTENT - 1))


def test_plain_text_is_still_type_1() -> None:
    check_content(CONTENT_TYPE_TEXT, b"no note here\x00and a zero byte")


def test_noted_message_seals_opens_and_reports(group: Group) -> None:
    sender = group.members[1]
    content = noted_text("abuse", "What happened last night")
    envelope = seal_message(
        epoch_secret=group.epoch_secret,
        group_id=group.group_id,
        epoch=1,
        sender=sender,
        msg_id=os.urandom(16),
        content=content,
        content_type=CONTENT_TYPE_NOTED_TEXT,
    )
    opened = open_message(
        parse_envelope(envelope.raw),
        epoch_secret=group.epoch_secret,
        sender_sig_pk=sender.signing.public,
    )
    assert opened.content_type == CONTENT_TYPE_NOTED_TEXT
    assert split_noted(opened.content) == ("abuse", "What happened last night")
    # The note is inside the ciphertext: not in the envelope the server relays.
    assert b"abuse" not in envelope.raw
    frank_keys = {1: os.urandom(32)}
    rtag = compute_rtag(frank_keys[1], envelope.header, 1_767_225_600_000)
    opening = build_report_opening(opened, server_ts=1_767_225_600_000, kid=1, rtag=rtag)
    verify_report(parse_report_opening(opening.encode()), frank_keys)
