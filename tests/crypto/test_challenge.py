"""Stateless connect challenges and the account key's proof."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.challenge import (
    check_challenge,
    issue_challenge,
    sign_challenge,
    verify_challenge_proof,
)
from crypto.errors import VerificationFailed
from crypto.keys import SigningKey
from crypto.mac import hmac_sha256

SECRET = bytes(range(32))
NOW = 1_767_225_600_000


def test_issue_and_check() -> None:
    challenge = issue_challenge(SECRET, now_ms=NOW, ttl_ms=60_000)
    assert len(challenge) == 56
    assert check_challenge(SECRET, challenge, now_ms=NOW) == NOW + 60_000
    assert check_challenge(SECRET, challenge, now_ms=NOW + 59_999) == NOW + 60_000


def test_layout() -> None:
    challenge = issue_challenge(SECRET, now_ms=NOW, ttl_ms=1, nonce=bytes(16))
    assert challenge[:8] == (NOW + 1).to_bytes(8, "big")
    assert challenge[8:24] == bytes(16)
    assert challenge[24:] == hmac_sha256(SECRET, b"hearth-v1 challenge" + challenge[:24])


def test_expired_or_forged() -> None:
    challenge = issue_challenge(SECRET, now_ms=NOW, ttl_ms=1000)
    with pytest.raises(VerificationFailed):
        check_challenge(SECRET, challenge, now_ms=NOW + 1000)
    with pytest.raises(VerificationFailed):
        check_challenge(bytes(32), challenge, now_ms=NOW)
    extended = (NOW + 10**9).to_bytes(8, "big") + challenge[8:]
    with pytest.raises(VerificationFailed):
        check_challenge(SECRET, extended, now_ms=NOW)


@settings(max_examples=50)
@given(bit=st.integers(min_value=0, max_value=56 * 8 - 1))
def test_any_bit_flip_is_rejected(bit: int) -> None:
    raw = bytearray(issue_challenge(SECRET, now_ms=NOW, ttl_ms=60_000))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(VerificationFailed):
        check_challenge(SECRET, bytes(raw), now_ms=NOW)


def test_proof() -> None:
    account = SigningKey.generate()
    challenge = issue_challenge(SECRET, now_ms=NOW, ttl_ms=60_000)
    proof = sign_challenge(account, challenge)
    verify_challenge_proof(account.public, challenge, proof)
    with pytest.raises(VerificationFailed):
        verify_challenge_proof(SigningKey.generate().public, challenge, proof)
    other = issue_challenge(SECRET, now_ms=NOW, ttl_ms=60_000)
    with pytest.raises(VerificationFailed):
        verify_challenge_proof(account.public, other, proof)
    # Domain separation: a bare signature over the challenge is not a proof.
    with pytest.raises(VerificationFailed):
        verify_challenge_proof(account.public, challenge, account.sign(challenge))


@pytest.mark.parametrize("length", [0, 55, 57])
def test_wrong_length_is_value_error(length: int) -> None:
    with pytest.raises(ValueError, match="must be 56 bytes"):
        check_challenge(SECRET, bytes(length), now_ms=NOW)
    with pytest.raises(ValueError, match="must be 56 bytes"):
        sign_challenge(SigningKey.generate(), bytes(length))
    with pytest.raises(ValueError, match="must be 56 bytes"):
        verify_challenge_proof(bytes(32), bytes(length), bytes(64))


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        issue_challenge(bytes(16), now_ms=NOW, ttl_ms=1)
    with pytest.raises(ValueError, match="ttl_ms must be in"):
        issue_challenge(SECRET, now_ms=NOW, ttl_ms=0)
    with pytest.raises(ValueError, match="ttl_ms must be in"):
        issue_challenge(SECRET, now_ms=2**64 - 1, ttl_ms=1)
    with pytest.raises(ValueError, match="nonce must be 16 bytes"):
        issue_challenge(SECRET, now_ms=NOW, ttl_ms=1, nonce=bytes(15))
    with pytest.raises(TypeError):
        issue_challenge(SECRET, now_ms=float(NOW), ttl_ms=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        check_challenge(SECRET, "x" * 56, now_ms=NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sign_challenge(SECRET, bytes(56))  # type: ignore[arg-type]
