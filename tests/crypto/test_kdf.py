"""HKDF-SHA256 wrapper against Wycheproof (every vector a sub-case, by tcId)."""

from typing import Any

import pytest

from crypto.kdf import MAX_OUTPUT, hkdf_sha256

WYCHEPROOF = {"case": "wycheproof_hkdf_sha256_test.json"}


def test_wycheproof_hkdf_sha256(case: dict[str, Any]) -> None:
    args = {
        "ikm": bytes.fromhex(case["ikm"]),
        "salt": bytes.fromhex(case["salt"]),
        "info": bytes.fromhex(case["info"]),
        "length": case["size"],
    }
    if case["result"] == "valid":
        assert hkdf_sha256(**args) == bytes.fromhex(case["okm"])
    else:  # SizeTooLarge: more than 255 * HashLen (RFC 5869 §2.3)
        with pytest.raises(ValueError, match="length must be in"):
            hkdf_sha256(**args)


def test_length_bounds() -> None:
    assert len(hkdf_sha256(ikm=b"k", salt=b"", info=b"", length=MAX_OUTPUT)) == MAX_OUTPUT
    for bad in (0, MAX_OUTPUT + 1):
        with pytest.raises(ValueError, match="length must be in"):
            hkdf_sha256(ikm=b"k", salt=b"", info=b"", length=bad)


def test_empty_salt_is_hashlen_zero_bytes() -> None:
    """RFC 5869 §2.2; WebCrypto's HMAC import needs the 32 zero bytes spelled out."""
    assert hkdf_sha256(ikm=b"k", salt=b"", info=b"i", length=32) == hkdf_sha256(
        ikm=b"k", salt=bytes(32), info=b"i", length=32
    )
