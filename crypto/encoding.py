"""Strict base64url without padding (RFC 4648 §5), the encoding of binary in JSON events."""

import base64
import binascii
import re

# Only the URL-safe alphabet; a length of 1 mod 4 can never be produced by an encoder.
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64encode(data: bytes) -> str:
    """Encode ``data`` as base64url without ``=`` padding."""
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode strict base64url without padding.

    Rejects padding, whitespace, characters outside the alphabet, impossible lengths and
    non-canonical trailing bits (RFC 4648 §3.5), so that every byte string has exactly one
    accepted text form; two texts for one ciphertext would defeat deduplication by value.
    """
    if not isinstance(text, str):
        raise TypeError("text must be str")
    if _ALPHABET.fullmatch(text) is None:
        raise ValueError("base64url text contains a character outside [A-Za-z0-9_-]")
    if len(text) % 4 == 1:
        raise ValueError("base64url text has an impossible length")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the checks above exclude it
        raise ValueError("invalid base64url text") from exc
    if b64encode(data) != text:
        raise ValueError("base64url text has non-canonical trailing bits")
    return data
