"""AES-128-GCM with a 96-bit nonce and a 128-bit tag (NIST SP 800-38D), the only AEAD of suite 1."""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import VerificationFailed
from crypto.fields import require_bytes
from crypto.suite import KEY_LEN, NONCE_LEN, TAG_LEN


def aead_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Return ``ct ‖ tag``."""
    require_bytes("key", key, KEY_LEN)
    require_bytes("nonce", nonce, NONCE_LEN)
    require_bytes("plaintext", plaintext)
    require_bytes("aad", aad)
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_open(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Return the plaintext of ``ct ‖ tag`` or raise ``VerificationFailed``."""
    require_bytes("key", key, KEY_LEN)
    require_bytes("nonce", nonce, NONCE_LEN)
    require_bytes("ciphertext", ciphertext)
    require_bytes("aad", aad)
    if len(ciphertext) < TAG_LEN:
        raise ValueError(f"ciphertext must be at least {TAG_LEN} bytes")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise VerificationFailed from None
