"""HMAC-SHA256 wrapper against Wycheproof (every vector a sub-case, by tcId)."""

from typing import Any

import pytest

from crypto.errors import VerificationFailed
from crypto.mac import hmac_sha256, verify_hmac_sha256

WYCHEPROOF = {"case": "wycheproof_hmac_sha256_test.json"}


def test_wycheproof_hmac_sha256(case: dict[str, Any]) -> None:
    """Full-length tags verify as the file says; Hearth never truncates a MAC, so a truncated
    tag is refused (ValueError) even when the file calls it valid, and for valid truncated
    vectors the full tag computed must start with it."""
    key, msg, tag = (
        bytes.fromhex(case["key"]),
        bytes.fromhex(case["msg"]),
        bytes.fromhex(case["tag"]),
    )
    if case["tagSize"] == 256:
        if case["result"] == "valid":
            assert hmac_sha256(key, msg) == tag
            verify_hmac_sha256(key, msg, tag)
        else:
            with pytest.raises(VerificationFailed):
                verify_hmac_sha256(key, msg, tag)
    else:
        if case["result"] == "valid":
            assert hmac_sha256(key, msg)[: len(tag)] == tag
        with pytest.raises((ValueError, VerificationFailed)):
            verify_hmac_sha256(key, msg, tag)


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        hmac_sha256("key", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_hmac_sha256(b"k", b"", bytearray(32))  # type: ignore[arg-type]
