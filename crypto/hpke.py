"""HPKE base-mode single-shot seal/open of the 32-byte epoch secret (RFC 9180 §6.1).

pyca's ``hpke.Suite`` takes no AAD, which matches Hearth: the wrap binds its context through
``info`` only (RFC 9180 §5.1 KeySchedule), and its output is ``enc(32) ‖ ct(32) ‖ tag(16)``.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from crypto.errors import VerificationFailed
from crypto.fields import require_bytes
from crypto.keys import KemKey
from crypto.suite import HPKE_SUITE, KEM_PK_LEN, SECRET_LEN, WRAP_LEN

# RFC 9180 §7.2.1: implementations must accept info of at least 64 bytes; Hearth's wrap info is
# 86 bytes, which pyca accepts and a WebCrypto composition handles without limit. Bound it anyway
# so the layout cannot grow silently.
MAX_INFO_LEN = 128


def seal_secret(kem_pk: bytes, secret: bytes, info: bytes) -> bytes:
    """Encrypt ``secret`` to ``kem_pk``; ``ValueError`` if kem_pk is a low-order point."""
    require_bytes("kem_pk", kem_pk, KEM_PK_LEN)
    require_bytes("secret", secret, SECRET_LEN)
    _check_info(info)
    try:
        return HPKE_SUITE.encrypt(secret, X25519PublicKey.from_public_bytes(kem_pk), info)
    except ValueError:
        # RFC 9180 §7.1.4: DH with a low-order point yields zero and must be refused.
        raise ValueError("kem_pk is a low-order X25519 point") from None


def open_secret(kem: KemKey, wrap: bytes, info: bytes) -> bytes:
    """Decrypt a wrap sealed to ``kem`` or raise ``VerificationFailed``."""
    require_bytes("wrap", wrap, WRAP_LEN)
    _check_info(info)
    try:
        return HPKE_SUITE.decrypt(wrap, kem.key, info)
    except (InvalidTag, ValueError):
        # ValueError: an enc that is a low-order point (all-zero DH output).
        raise VerificationFailed from None


def _check_info(info: bytes) -> None:
    require_bytes("info", info)
    if len(info) > MAX_INFO_LEN:
        raise ValueError(f"HPKE info is limited to {MAX_INFO_LEN} bytes")
