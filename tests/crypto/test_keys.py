"""Keys, signatures and fingerprints; Wycheproof Ed25519 and X25519 as data."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from crypto.errors import VerificationFailed
from crypto.keys import (
    KemKey,
    MemberKeys,
    SigningKey,
    check_kem_public_key,
    fingerprint,
    verify_signature,
)

WYCHEPROOF = {
    "ed25519_case": "wycheproof_ed25519_test.json",
    "x25519_case": "wycheproof_x25519_test.json",
}


def test_wycheproof_ed25519_through_verify_signature(ed25519_case: dict[str, Any]) -> None:
    case = ed25519_case
    public_key = bytes.fromhex(case["publicKey"]["pk"])
    signature, message = bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"])
    if case["result"] == "valid":
        verify_signature(public_key, signature, message)
    else:
        # Truncated or padded signatures are malformed input (ValueError); the rest must fail
        # verification. Either way: never accepted.
        with pytest.raises((VerificationFailed, ValueError)):
            verify_signature(public_key, signature, message)


def test_wycheproof_x25519_through_kem_key(x25519_case: dict[str, Any]) -> None:
    """X25519 is used only inside HPKE, so the vectors load through KemKey (RFC 7748 §5).

    "acceptable" cases: Hearth accepts each one whose shared secret is not all zero, with the
    expected output, and rejects every all-zero shared secret (RFC 9180 §7.1.4), which pyca
    does; those public keys are also refused by ``check_kem_public_key``.
    """
    case = x25519_case
    kem = KemKey.from_raw(bytes.fromhex(case["private"]))
    public = bytes.fromhex(case["public"])
    shared = bytes.fromhex(case["shared"])
    zero = shared == bytes(32)
    if case["result"] == "valid" or (case["result"] == "acceptable" and not zero):
        assert kem.key.exchange(X25519PublicKey.from_public_bytes(public)) == shared
    else:
        with pytest.raises(ValueError):  # noqa: PT011  (pyca wording varies by case)
            kem.key.exchange(X25519PublicKey.from_public_bytes(public))
        if len(public) == 32:
            with pytest.raises(ValueError, match="low-order"):
                check_kem_public_key(public)


def test_x25519_acceptable_cases_are_all_accounted_for(vectors: Callable[[str], Any]) -> None:
    data = vectors("wycheproof_x25519_test.json")
    cases = [test for group in data["testGroups"] for test in group["tests"]]
    acceptable = [c for c in cases if c["result"] == "acceptable"]
    zero = [c for c in acceptable if bytes.fromhex(c["shared"]) == bytes(32)]
    assert len(acceptable) == 254
    assert len(zero) == 31  # the ones OpenSSL refuses, per tests/vectors/SOURCES.md


def test_signing_key_round_trip_and_deterministic_signature() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_raw(key.raw())
    assert again.public == key.public
    assert again.sign(b"m") == key.sign(b"m")  # RFC 8032 signatures are deterministic
    verify_signature(key.public, key.sign(b"m"), b"m")
    with pytest.raises(VerificationFailed, match=r"^verification failed$"):
        verify_signature(key.public, key.sign(b"m"), b"n")


def test_a_public_key_that_is_no_point_or_of_small_order_fails_every_signature() -> None:
    not_a_point = bytes.fromhex("02" + "ff" * 31)  # y >= p: no valid encoding (RFC 8032 5.1.3)
    identity = bytes.fromhex("01" + "00" * 31)  # the neutral point: order 1
    for public in (not_a_point, identity):
        with pytest.raises(VerificationFailed):
            verify_signature(public, bytes(64), b"m")


def test_kem_key_round_trip() -> None:
    key = KemKey.generate()
    assert KemKey.from_raw(key.raw()).public == key.public


def test_private_keys_stay_out_of_repr() -> None:
    member = MemberKeys.generate()
    text = repr(member)
    assert member.signing.raw().hex() not in text
    assert member.kem.raw().hex() not in text
    assert "key=" not in text


def test_member_keys_entry() -> None:
    member = MemberKeys.generate()
    entry = member.entry
    assert (entry.member_id, entry.sig_pk, entry.kem_pk) == (
        member.member_id,
        member.signing.public,
        member.kem.public,
    )
    assert MemberKeys.generate().member_id != member.member_id


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33)])
def test_from_raw_wrong_length(raw: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKey.from_raw(raw)
    with pytest.raises(ValueError, match="32 bytes"):
        KemKey.from_raw(raw)


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        SigningKey.from_raw("00" * 32)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_signature(bytearray(32), bytes(64), b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemberKeys(b"x" * 16, SigningKey.generate(), KemKey.generate()).signing.sign("m")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        (bytes(31), bytes(64)),
        (bytes(33), bytes(64)),
        (bytes(32), bytes(63)),
        (bytes(32), bytes(65)),
    ],
)
def test_verify_signature_wrong_lengths(public_key: bytes, signature: bytes) -> None:
    with pytest.raises(ValueError, match="must be"):
        verify_signature(public_key, signature, b"m")


def test_fingerprint_format() -> None:
    text = fingerprint(SigningKey.generate().public)
    assert re.fullmatch(r"[0-9a-f]{4}( [0-9a-f]{4}){4}", text)
    with pytest.raises(ValueError, match="must be 32 bytes"):
        fingerprint(bytes(16))


def test_check_kem_public_key_accepts_a_real_key() -> None:
    check_kem_public_key(KemKey.generate().public)
