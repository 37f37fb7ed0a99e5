"""Message envelopes: round trip, tamper resistance, epoch isolation, parser strictness."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.aead import aead_seal
from crypto.commits import build_commit, open_commit
from crypto.envelopes import (
    Envelope,
    open_message,
    parse_envelope,
    seal_message,
    verify_envelope,
)
from crypto.errors import VerificationFailed
from crypto.franking import commitment
from crypto.headers import EnvelopeHeader
from crypto.keys import MemberKeys
from crypto.padding import pad
from crypto.schedule import sender_key
from crypto.suite import LABEL_MSG_SIG, MAX_CONTENT, PAD_BUCKETS

if TYPE_CHECKING:
    from conftest import Group


def seal(group: Group, content: bytes = b"hello", *, sender: int = 1) -> Envelope:
    return seal_message(
        epoch_secret=group.epoch_secret,
        group_id=group.group_id,
        epoch=1,
        sender=group.members[sender],
        msg_id=os.urandom(16),
        content=content,
    )


def open_as_recipient(group: Group, envelope: Envelope, *, sender: int = 1) -> bytes:
    opened = open_message(
        envelope,
        epoch_secret=group.epoch_secret,
        sender_sig_pk=group.members[sender].signing.public,
    )
    return opened.content


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=MAX_CONTENT // 4))
def test_any_text_round_trips(group: Group, text: str) -> None:
    content = text.encode()
    envelope = parse_envelope(seal(group, content).raw)
    assert open_as_recipient(group, envelope) == content


@settings(max_examples=10, deadline=None)
@given(size=st.integers(min_value=0, max_value=MAX_CONTENT), data=st.data())
def test_any_size_up_to_max_content_round_trips(
    group: Group, size: int, data: st.DataObject
) -> None:
    content = data.draw(
        st.binary(min_size=size, max_size=size).map(lambda b: bytes(c & 0x7F for c in b))
    )
    envelope = parse_envelope(seal(group, content).raw)
    assert open_as_recipient(group, envelope) == content
    assert len(envelope.ciphertext) - 33 - 16 in PAD_BUCKETS


def test_max_content_edges(group: Group) -> None:
    assert open_as_recipient(group, seal(group, b"")) == b""
    assert open_as_recipient(group, seal(group, b"a" * MAX_CONTENT)) == b"a" * MAX_CONTENT
    with pytest.raises(ValueError, match="at most 16380"):
        seal(group, b"a" * (MAX_CONTENT + 1))


def test_layout(group: Group) -> None:
    envelope = seal(group)
    raw = envelope.raw
    assert raw[:3] == b"\x01\x00\x01"
    assert raw[:103] == envelope.header.encode()
    assert len(raw) == 103 + 32 + 1 + 128 + 16 + 64
    assert raw[-64:] == envelope.signature


@settings(max_examples=80, deadline=None)
@given(bit=st.integers(min_value=0))
def test_any_bit_flip_is_rejected(group: Group, bit: int) -> None:
    raw = bytearray(seal(group).raw)
    bit %= len(raw) * 8
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((ValueError, VerificationFailed)):
        open_as_recipient(group, parse_envelope(bytes(raw)))


def test_every_byte_of_the_envelope_is_covered(group: Group) -> None:
    envelope = seal(group)
    for index in range(len(envelope.raw)):
        raw = bytearray(envelope.raw)
        raw[index] ^= 0x01
        with pytest.raises((ValueError, VerificationFailed)):
            open_as_recipient(group, parse_envelope(bytes(raw)))


def test_server_verifies_without_secrets(group: Group) -> None:
    envelope = seal(group)
    verify_envelope(envelope, group.members[1].signing.public)
    with pytest.raises(VerificationFailed):
        verify_envelope(envelope, group.members[2].signing.public)


def test_member_of_epoch_n_cannot_open_epoch_n_plus_1(new_group: Callable[..., Group]) -> None:
    group = new_group(3)
    commit, secret = build_commit(
        group_id=group.group_id,
        epoch=2,
        prev_commit_hash=group.commit.hash,
        committer=group.members[0],
        roster=[m.entry for m in group.members[:2]],
    )
    assert open_commit(commit, group.members[1]) == secret
    envelope = seal_message(
        epoch_secret=secret,
        group_id=group.group_id,
        epoch=2,
        sender=group.members[1],
        msg_id=os.urandom(16),
        content=b"after the removal",
    )
    with pytest.raises(VerificationFailed):
        open_message(
            envelope, epoch_secret=group.epoch_secret, sender_sig_pk=group.members[1].signing.public
        )


@settings(max_examples=15, deadline=None)
@given(epoch=st.integers(min_value=1, max_value=2**64 - 2))
def test_old_epoch_secret_never_opens_next_epoch(epoch: int) -> None:
    sender = MemberKeys.generate()
    group_id, old, new = os.urandom(16), os.urandom(32), os.urandom(32)
    envelope = seal_message(
        epoch_secret=new,
        group_id=group_id,
        epoch=epoch + 1,
        sender=sender,
        msg_id=os.urandom(16),
        content=b"x",
    )
    with pytest.raises(VerificationFailed):
        open_message(envelope, epoch_secret=old, sender_sig_pk=sender.signing.public)


def _sealed_by_hand(
    group: Group, plaintext_tail: bytes, content: bytes, content_type: int
) -> Envelope:
    """A correctly signed envelope whose plaintext breaks a rule seal_message enforces."""
    sender = group.members[1]
    kf, msg_id, nonce = os.urandom(32), os.urandom(16), os.urandom(12)
    header = EnvelopeHeader(
        group.group_id,
        1,
        sender.member_id,
        msg_id,
        nonce,
        commitment(kf, group.group_id, 1, sender.member_id, msg_id, content_type, content),
    )
    key = sender_key(group.epoch_secret, group.group_id, 1, sender.member_id)
    ct = aead_seal(key, nonce, kf + plaintext_tail, header.encode())
    sig = sender.signing.sign(LABEL_MSG_SIG + header.encode() + ct)
    return parse_envelope(header.encode() + ct + sig)


@pytest.mark.parametrize(
    ("tail", "content", "content_type"),
    [
        (b"\x03" + pad(b"hi"), b"hi", 3),  # unknown content type
        (b"\x02" + pad(b"hi"), b"hi", 2),  # noted text without its note's end
        (b"\x02" + pad(b"\x00hi"), b"\x00hi", 2),  # an empty content note
        (b"\x02" + pad("a\u202eb\x00hi".encode()), "a\u202eb\x00hi".encode(), 2),  # bidi
        (b"\x02" + pad(b"n" * 41 + b"\x00hi"), b"n" * 41 + b"\x00hi", 2),  # note too long
        (b"\x02" + pad(b"note\x00\xff"), b"note\x00\xff", 2),  # text not UTF-8
        (b"\x01" + pad(b"\xff\xfe"), b"\xff\xfe", 1),  # not UTF-8
        (b"\x01" + pad(b"hi")[:-1] + b"\x01", b"hi", 1),  # non-zero padding
        (b"\x01" + pad(b"hi"), b"ho", 1),  # commitment to other content
    ],
)
def test_signed_but_invalid_plaintext_fails_opaquely(
    group: Group, tail: bytes, content: bytes, content_type: int
) -> None:
    envelope = _sealed_by_hand(group, tail, content, content_type)
    with pytest.raises(VerificationFailed, match=r"^verification failed$"):
        open_as_recipient(group, envelope)


def test_deterministic_inputs_give_identical_envelopes(group: Group) -> None:
    args = dict(
        epoch_secret=group.epoch_secret,
        group_id=group.group_id,
        epoch=1,
        sender=group.members[0],
        msg_id=bytes(16),
        content=b"x",
        nonce=bytes(12),
        franking_key=bytes(32),
    )
    assert seal_message(**args).raw == seal_message(**args).raw  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: b"\x02" + raw[1:], "unsupported version 2"),
        (lambda raw: raw[:1] + b"\x00\x02" + raw[3:], "unsupported suite 2"),
        (lambda raw: raw[:19] + bytes(8) + raw[27:], "epoch must be at least 1"),
        (lambda raw: raw + b"\x00", "padding bucket"),
        (lambda raw: raw[:-1], "padding bucket"),
        (lambda raw: raw[:100], "truncated"),
        (lambda raw: b"", "truncated"),
    ],
)
def test_parse_rejects_malformed(
    group: Group, mutate: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_envelope(mutate(seal(group).raw))


def test_seal_rejects_bad_input(group: Group) -> None:
    base = dict(
        epoch_secret=group.epoch_secret,
        group_id=group.group_id,
        epoch=1,
        sender=group.members[0],
        msg_id=bytes(16),
        content=b"x",
    )
    for field, value, error in [
        ("content_type", 3, ValueError),
        ("content", b"\xff", ValueError),
        ("content", "text", TypeError),
        ("msg_id", bytes(15), ValueError),
        ("epoch", 0, ValueError),
        ("epoch_secret", bytes(16), ValueError),
        ("nonce", bytes(11), ValueError),
        ("franking_key", bytes(31), ValueError),
        ("sender", group.members[0].signing, TypeError),
    ]:
        with pytest.raises(error):
            seal_message(**{**base, field: value})  # type: ignore[arg-type]


def test_wrong_types(group: Group) -> None:
    with pytest.raises(TypeError):
        parse_envelope(seal(group).raw.hex())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_envelope(seal(group).raw, bytes(32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be 32 bytes"):
        verify_envelope(seal(group), bytes(31))
