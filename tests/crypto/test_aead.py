"""AES-128-GCM wrapper against Wycheproof (every vector a sub-case, by tcId)."""

from typing import Any

import pytest

from crypto.aead import aead_open, aead_seal
from crypto.errors import VerificationFailed

WYCHEPROOF = {"case": "wycheproof_aes_gcm_test.json"}


def test_wycheproof_aes_gcm(case: dict[str, Any]) -> None:
    """Suite 1 has one AEAD shape: 128-bit key, 96-bit nonce, 128-bit tag. Vectors of that shape
    must round-trip or be rejected as the file says; every other shape (other key sizes, IV
    sizes, truncated tags) must be refused by the wrapper, even when the file calls it valid."""
    key, iv, aad = bytes.fromhex(case["key"]), bytes.fromhex(case["iv"]), bytes.fromhex(case["aad"])
    msg = bytes.fromhex(case["msg"])
    sealed = bytes.fromhex(case["ct"]) + bytes.fromhex(case["tag"])
    suite_shape = (case["keySize"], case["ivSize"], case["tagSize"]) == (128, 96, 128)
    if suite_shape and case["result"] == "valid":
        assert aead_open(key, iv, sealed, aad) == msg
        assert aead_seal(key, iv, msg, aad) == sealed
    else:
        with pytest.raises((VerificationFailed, ValueError)):
            aead_open(key, iv, sealed, aad)


def test_suite_shape_has_vectors(vectors: Any) -> None:
    data = vectors("wycheproof_aes_gcm_test.json")
    shaped = [
        t
        for g in data["testGroups"]
        if (g["keySize"], g["ivSize"], g["tagSize"]) == (128, 96, 128)
        for t in g["tests"]
    ]
    assert {t["result"] for t in shaped} == {"valid", "invalid"}


@pytest.mark.parametrize(("key_len", "nonce_len"), [(24, 12), (32, 12), (16, 8), (16, 16)])
def test_other_shapes_refused_when_sealing(key_len: int, nonce_len: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        aead_seal(bytes(key_len), bytes(nonce_len), b"m", b"")


def test_short_ciphertext_is_malformed() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        aead_open(bytes(16), bytes(12), bytes(15), b"")


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        aead_seal(bytes(16), bytes(12), "m", b"")  # type: ignore[arg-type]
