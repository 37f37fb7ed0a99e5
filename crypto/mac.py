"""HMAC-SHA256 (RFC 2104) and its constant-time check."""

import hmac as _hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from crypto.errors import VerificationFailed
from crypto.fields import require_bytes
from crypto.suite import MAC_LEN


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """Return HMAC-SHA256(key, data), 32 bytes."""
    mac = HMAC(require_bytes("key", key), hashes.SHA256())
    mac.update(require_bytes("data", data))
    return mac.finalize()


def verify_hmac_sha256(key: bytes, data: bytes, tag: bytes) -> None:
    """Raise ``VerificationFailed`` unless ``tag`` is HMAC-SHA256(key, data).

    Only full 32-byte tags are accepted: Hearth never truncates a MAC.
    """
    require_bytes("tag", tag, MAC_LEN)
    if not _hmac.compare_digest(hmac_sha256(key, data), tag):
        raise VerificationFailed
