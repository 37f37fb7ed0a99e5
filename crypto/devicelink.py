"""The device link's key exchange: a CPace-style balanced PAKE on X25519, keyed by a short code.

The old device shows a code ``SSSS-XXXX-XXXX`` (Crockford base32, 12 characters). Its first four
characters are the *slot* (20 bits): the rendezvous id the server sees is derived from them alone.
The last eight are the *secret* (40 bits): the server never sees it or anything computed from it
alone. Both devices map the secret to a point ``g`` with Elligator 2 (RFC 9380 §6.7.1), take fresh
X25519 scalars, exchange ``Y = X25519(y, g)`` through the server, and derive ``K = X25519(y, Y')``
— the structure of CPace (draft-irtf-cfrg-cpace, X25519 instantiation), with Hearth's own labels
and transcript (docs/protocol.md §15). Key confirmation is an HMAC over the transcript in each
direction. A party without the secret computes a different ``g`` and learns nothing it could test
guesses against offline; each link is used once, so an active attacker gets one guess of 2^40
per link it runs. Pure functions over bytes, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from crypto.aead import aead_open, aead_seal
from crypto.errors import VerificationFailed
from crypto.fields import require_bytes, require_int
from crypto.kdf import hkdf_sha256

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
SLOT_CHARS: Final = 4
SECRET_CHARS: Final = 8
CODE_CHARS: Final = SLOT_CHARS + SECRET_CHARS
LINK_ID_LEN: Final = 16
POINT_LEN: Final = 32
TAG_LEN: Final = 32
NONCE_LEN: Final = 12

LABEL_LINK_ID: Final = b"hearth-v1 link id"
LABEL_GENERATOR: Final = b"hearth-v1 link generator"
LABEL_TRANSCRIPT: Final = b"hearth-v1 link transcript"
LABEL_KEYS: Final = b"hearth-v1 link keys"
LABEL_CONFIRM_A: Final = b"hearth-v1 link confirm A"
LABEL_CONFIRM_B: Final = b"hearth-v1 link confirm B"
LABEL_PAYLOAD: Final = b"hearth-v1 link payload"

P: Final = 2**255 - 19
MONTGOMERY_A: Final = 486662
ELLIGATOR_Z: Final = 2
_TRANSLATE: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh code, grouped for reading aloud: ``SSSS-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(text: str) -> str:
    """The 12 code characters of what a person typed (case, spaces, dashes and the look-alikes
    O/I/L forgiven), or ``ValueError``."""
    if not isinstance(text, str):
        raise TypeError("code must be a str")
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_TRANSLATE)
    if len(cleaned) != CODE_CHARS or any(ch not in ALPHABET for ch in cleaned):
        raise ValueError(f"a code is {CODE_CHARS} characters of {ALPHABET}")
    return cleaned


def link_id(code: str) -> bytes:
    """The rendezvous id the server sees: a hash of the code's slot only."""
    slot = normalise_code(code)[:SLOT_CHARS]
    return hashlib.sha256(LABEL_LINK_ID + slot.encode("ascii")).digest()[:LINK_ID_LEN]


def _is_square(v: int) -> bool:
    return v == 0 or pow(v, (P - 1) // 2, P) == 1


def elligator2(r: int) -> int:
    """The u-coordinate of map_to_curve_elligator2 on curve25519 (RFC 9380 §6.7.1)."""
    tv1 = ELLIGATOR_Z * r * r % P
    if tv1 == P - 1:  # 1 + Z r^2 = 0: the exceptional case, x1 = -A
        tv1 = 0
    x1 = (-MONTGOMERY_A * pow(1 + tv1, P - 2, P)) % P
    gx1 = (x1 * x1 * x1 + MONTGOMERY_A * x1 * x1 + x1) % P
    return x1 if _is_square(gx1) else (-x1 - MONTGOMERY_A) % P


def generator(code: str) -> bytes:
    """The code's point g: Elligator 2 of SHA-256(label ‖ link_id ‖ secret), 255 bits mod p."""
    normal = normalise_code(code)
    digest = hashlib.sha256(
        LABEL_GENERATOR + link_id(normal) + normal[SLOT_CHARS:].encode("ascii")
    ).digest()
    r = int.from_bytes(digest, "little") & ((1 << 255) - 1)
    return (elligator2(r % P)).to_bytes(POINT_LEN, "little")


def _x25519(scalar: bytes, point: bytes) -> bytes:
    try:
        return X25519PrivateKey.from_private_bytes(scalar).exchange(
            X25519PublicKey.from_public_bytes(point)
        )
    except ValueError:  # an all-zero result (a low-order point): abort, as CPace requires
        raise VerificationFailed() from None


def share(code: str, scalar: bytes) -> bytes:
    """``Y = X25519(scalar, g)``: what a device sends."""
    require_bytes("scalar", scalar, 32)
    return _x25519(scalar, generator(code))


@dataclass(frozen=True, slots=True)
class LinkKeys:
    transcript: bytes  # SHA-256(label ‖ link_id ‖ Ya ‖ Yb)
    confirm_a: bytes  # the old device's tag
    confirm_b: bytes  # the new device's tag
    seal_key: bytes  # AES-128-GCM key of the payload


def derive(code: str, scalar: bytes, share_a: bytes, share_b: bytes, *, own: bytes) -> LinkKeys:
    """Both sides' keys: ``own`` is this side's share (``share_a`` or ``share_b``)."""
    require_bytes("share_a", share_a, POINT_LEN)
    require_bytes("share_b", share_b, POINT_LEN)
    if own not in (share_a, share_b):
        raise ValueError("own must be one of the two shares")
    other = share_b if own == share_a else share_a
    shared = _x25519(scalar, other)
    transcript = hashlib.sha256(LABEL_TRANSCRIPT + link_id(code) + share_a + share_b).digest()
    okm = hkdf_sha256(ikm=shared, salt=transcript, info=LABEL_KEYS, length=80)
    key_a, key_b, seal_key = okm[:32], okm[32:64], okm[64:]
    return LinkKeys(
        transcript=transcript,
        confirm_a=hmac.new(key_a, LABEL_CONFIRM_A + transcript, "sha256").digest(),
        confirm_b=hmac.new(key_b, LABEL_CONFIRM_B + transcript, "sha256").digest(),
        seal_key=seal_key,
    )


def check_tag(expected: bytes, received: bytes) -> None:
    """Raise ``VerificationFailed`` unless the tags match (constant time)."""
    if not hmac.compare_digest(expected, received):
        raise VerificationFailed()


def _chunk_aad(keys: LinkKeys, index: int, total: int) -> bytes:
    return LABEL_PAYLOAD + keys.transcript + index.to_bytes(4, "big") + total.to_bytes(4, "big")


def seal_chunk(keys: LinkKeys, index: int, total: int, chunk: bytes, nonce: bytes) -> bytes:
    """``nonce ‖ AES-128-GCM(seal_key, nonce, chunk)`` with
    ``aad = label ‖ transcript ‖ u32 index ‖ u32 total``."""
    require_int("total", total, 1, 2**32 - 1)
    require_int("index", index, 0, total - 1)
    return nonce + aead_seal(keys.seal_key, nonce, chunk, _chunk_aad(keys, index, total))


def open_chunk(keys: LinkKeys, index: int, total: int, sealed: bytes) -> bytes:
    require_int("total", total, 1, 2**32 - 1)
    require_int("index", index, 0, total - 1)
    if len(sealed) < NONCE_LEN + 16:
        raise VerificationFailed()
    return aead_open(
        keys.seal_key, sealed[:NONCE_LEN], sealed[NONCE_LEN:], _chunk_aad(keys, index, total)
    )
