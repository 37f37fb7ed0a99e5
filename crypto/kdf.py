"""HKDF-SHA256 (RFC 5869), extract then expand."""

from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.fields import require_bytes, require_int

MAX_OUTPUT: Final = 255 * 32  # RFC 5869 §2.3: L <= 255 * HashLen


def hkdf_sha256(*, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """Return ``length`` bytes of HKDF-SHA256; an empty salt means HashLen zero bytes (§2.2)."""
    require_bytes("ikm", ikm)
    require_bytes("salt", salt)
    require_bytes("info", info)
    require_int("length", length, 1, MAX_OUTPUT)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)
