"""Message envelopes: seal, parse, verify and open (docs/protocol.md §7).

``envelope = header(103) ‖ ct ‖ sig(64)`` with ``ct = AES-128-GCM(sender_key, nonce,
aad = header, Kf ‖ content_type ‖ padded)`` and ``sig = Ed25519(LABEL_MSG_SIG ‖ header ‖ ct)``.
"""

import hmac
import os
from dataclasses import dataclass
from typing import Final

from crypto.aead import aead_open, aead_seal
from crypto.content import check_content
from crypto.errors import VerificationFailed
from crypto.fields import Reader, require_bytes, require_epoch
from crypto.franking import commitment
from crypto.headers import EnvelopeHeader, read_header
from crypto.keys import MemberKeys, verify_signature
from crypto.padding import pad, unpad
from crypto.schedule import sender_key
from crypto.suite import (
    CONTENT_TYPE_TEXT,
    FRANKING_KEY_LEN,
    GROUP_ID_LEN,
    LABEL_MSG_SIG,
    MSG_ID_LEN,
    NONCE_LEN,
    PAD_BUCKETS,
    SECRET_LEN,
    SIG_LEN,
    TAG_LEN,
    u8,
)

__all__ = [
    "Envelope",
    "EnvelopeHeader",
    "OpenedMessage",
    "open_message",
    "parse_envelope",
    "seal_message",
    "verify_envelope",
]

_PLAINTEXT_PREFIX: Final = FRANKING_KEY_LEN + 1  # Kf ‖ content_type
# The only ciphertext sizes a correct sender produces: one per padding bucket.
_CIPHERTEXT_LENS: Final = frozenset(_PLAINTEXT_PREFIX + b + TAG_LEN for b in PAD_BUCKETS)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope; ``raw`` is the exact wire form."""

    header: EnvelopeHeader
    ciphertext: bytes
    signature: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    """A decrypted message whose signature, padding and commitment all checked out."""

    header: EnvelopeHeader
    content_type: int
    content: bytes
    franking_key: bytes


def seal_message(
    *,
    epoch_secret: bytes,
    group_id: bytes,
    epoch: int,
    sender: MemberKeys,
    msg_id: bytes,
    content: bytes,
    content_type: int = CONTENT_TYPE_TEXT,
    nonce: bytes | None = None,
    franking_key: bytes | None = None,
) -> Envelope:
    """Encrypt, commit to and sign ``content``; ``nonce``/``franking_key`` only for vectors."""
    require_bytes("epoch_secret", epoch_secret, SECRET_LEN)
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_epoch(epoch)
    if not isinstance(sender, MemberKeys):
        raise TypeError("sender must be MemberKeys")
    require_bytes("msg_id", msg_id, MSG_ID_LEN)
    check_content(content_type, content)
    nonce = os.urandom(NONCE_LEN) if nonce is None else require_bytes("nonce", nonce, NONCE_LEN)
    if franking_key is None:
        franking_key = os.urandom(FRANKING_KEY_LEN)
    require_bytes("franking_key", franking_key, FRANKING_KEY_LEN)

    header = EnvelopeHeader(
        group_id=group_id,
        epoch=epoch,
        sender_id=sender.member_id,
        msg_id=msg_id,
        nonce=nonce,
        commitment=commitment(
            franking_key, group_id, epoch, sender.member_id, msg_id, content_type, content
        ),
    )
    aad = header.encode()
    key = sender_key(epoch_secret, group_id, epoch, sender.member_id)
    ciphertext = aead_seal(key, nonce, franking_key + u8(content_type) + pad(content), aad)
    # Every member can derive every sender key of the epoch (HPKE base mode and AES-GCM do not
    # authenticate a member), so only this signature shows which member wrote the message.
    signature = sender.signing.sign(LABEL_MSG_SIG + aad + ciphertext)
    return Envelope(header, ciphertext, signature, aad + ciphertext + signature)


def parse_envelope(data: bytes) -> Envelope:
    """Parse an envelope strictly; ``ValueError`` on any malformed field. Verifies nothing."""
    reader = Reader("envelope", data)
    header = read_header(reader)
    ciphertext_len = reader.remaining() - SIG_LEN
    if ciphertext_len not in _CIPHERTEXT_LENS:
        raise ValueError("envelope: ciphertext length matches no padding bucket")
    ciphertext = reader.take(ciphertext_len)
    signature = reader.take(SIG_LEN)
    reader.finish()
    return Envelope(header, ciphertext, signature, data)


def verify_envelope(envelope: Envelope, sender_sig_pk: bytes) -> None:
    """Check the sender's signature; needs no secret, so the server runs it on every message."""
    if not isinstance(envelope, Envelope):
        raise TypeError("envelope must be Envelope")
    signed = LABEL_MSG_SIG + envelope.header.encode() + envelope.ciphertext
    verify_signature(sender_sig_pk, envelope.signature, signed)


def open_message(envelope: Envelope, *, epoch_secret: bytes, sender_sig_pk: bytes) -> OpenedMessage:
    """Verify, decrypt, unpad and check the commitment; any failure is ``VerificationFailed``."""
    require_bytes("epoch_secret", epoch_secret, SECRET_LEN)
    verify_envelope(envelope, sender_sig_pk)
    header = envelope.header
    key = sender_key(epoch_secret, header.group_id, header.epoch, header.sender_id)
    plaintext = aead_open(key, header.nonce, envelope.ciphertext, envelope.header.encode())
    franking_key = plaintext[:FRANKING_KEY_LEN]
    content_type = plaintext[FRANKING_KEY_LEN]
    content = unpad(plaintext[_PLAINTEXT_PREFIX:])
    try:
        check_content(content_type, content)
    except ValueError:
        # Authenticated but invalid (unknown type, bad UTF-8): a broken or hostile sender.
        raise VerificationFailed from None
    expected = commitment(
        franking_key,
        header.group_id,
        header.epoch,
        header.sender_id,
        header.msg_id,
        content_type,
        content,
    )
    # Never display a message whose C does not match: its report could not be verified.
    if not hmac.compare_digest(expected, header.commitment):
        raise VerificationFailed
    return OpenedMessage(header, content_type, content, franking_key)
