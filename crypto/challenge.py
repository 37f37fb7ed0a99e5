"""Stateless connect challenges and the account key's proof (docs/protocol.md §10).

``challenge = u64(expiry_ms) ‖ random(16) ‖ HMAC-SHA256(secret, LABEL_CHALLENGE ‖ u64(expiry_ms)
‖ random)``: the server keeps no state, the MAC shows it issued the challenge, the expiry bounds
replay, and the client proves its account key with ``Ed25519(LABEL_CONNECT ‖ challenge)``.
"""

import os
from typing import Final

from crypto.errors import VerificationFailed
from crypto.fields import require_bytes, require_int, require_u64
from crypto.keys import SigningKey, verify_signature
from crypto.mac import hmac_sha256, verify_hmac_sha256
from crypto.suite import (
    CHALLENGE_LEN,
    CHALLENGE_RANDOM_LEN,
    LABEL_CHALLENGE,
    LABEL_CONNECT,
    SIG_LEN,
    SIG_PK_LEN,
    u64,
)

MIN_SECRET_LEN: Final = 32  # the server's HMAC key: at least the hash's output size
_SIGNED_LEN: Final = 8 + CHALLENGE_RANDOM_LEN


def _require_secret(secret: bytes) -> None:
    require_bytes("secret", secret)
    if len(secret) < MIN_SECRET_LEN:
        raise ValueError(f"secret must be at least {MIN_SECRET_LEN} bytes")


def issue_challenge(
    secret: bytes, *, now_ms: int, ttl_ms: int, nonce: bytes | None = None
) -> bytes:
    """A 56-byte challenge that expires ``ttl_ms`` after ``now_ms``."""
    _require_secret(secret)
    require_u64("now_ms", now_ms)
    require_int("ttl_ms", ttl_ms, 1, 2**64 - 1 - now_ms)
    if nonce is None:
        nonce = os.urandom(CHALLENGE_RANDOM_LEN)
    require_bytes("nonce", nonce, CHALLENGE_RANDOM_LEN)
    signed = u64(now_ms + ttl_ms) + nonce
    return signed + hmac_sha256(secret, LABEL_CHALLENGE + signed)


def check_challenge(secret: bytes, challenge: bytes, *, now_ms: int) -> int:
    """Return the challenge's expiry (ms) if this server issued it and it has not expired."""
    _require_secret(secret)
    require_bytes("challenge", challenge, CHALLENGE_LEN)
    require_u64("now_ms", now_ms)
    signed, tag = challenge[:_SIGNED_LEN], challenge[_SIGNED_LEN:]
    verify_hmac_sha256(secret, LABEL_CHALLENGE + signed, tag)
    expiry_ms = int.from_bytes(signed[:8], "big")
    if now_ms >= expiry_ms:
        raise VerificationFailed
    return expiry_ms


def sign_challenge(account: SigningKey, challenge: bytes) -> bytes:
    """The client's proof of its account key over a challenge."""
    if not isinstance(account, SigningKey):
        raise TypeError("account must be SigningKey")
    require_bytes("challenge", challenge, CHALLENGE_LEN)
    return account.sign(LABEL_CONNECT + challenge)


def verify_challenge_proof(account_pk: bytes, challenge: bytes, signature: bytes) -> None:
    """``VerificationFailed`` unless ``signature`` is the account key's proof over challenge."""
    require_bytes("account_pk", account_pk, SIG_PK_LEN)
    require_bytes("challenge", challenge, CHALLENGE_LEN)
    require_bytes("signature", signature, SIG_LEN)
    verify_signature(account_pk, signature, LABEL_CONNECT + challenge)
