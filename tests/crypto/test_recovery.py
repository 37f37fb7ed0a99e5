"""The recovery file (crypto/recovery.py) against its vectors and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto import recovery
from crypto.errors import VerificationFailed

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "hearth-devices-v1.json").read_text()
)
CHEAP = recovery.Argon2Params(memory_kib=recovery.MIN_MEMORY_KIB, time_cost=1, parallelism=1)


@pytest.mark.parametrize("vector", VECTORS["recovery"], ids=lambda v: v["name"])
def test_recovery_vectors(vector: dict[str, object]) -> None:
    params = recovery.Argon2Params(
        memory_kib=int(str(vector["memory_kib"])),
        time_cost=int(str(vector["time_cost"])),
        parallelism=int(str(vector["parallelism"])),
    )
    salt, nonce = bytes.fromhex(str(vector["salt"])), bytes.fromhex(str(vector["nonce"]))
    passphrase = str(vector["passphrase"])
    assert recovery.file_key(passphrase, salt, params).hex() == vector["key"]
    sealed = recovery.seal(
        passphrase, bytes.fromhex(str(vector["plaintext"])), params, salt=salt, nonce=nonce
    )
    assert sealed.hex() == vector["file"]
    assert recovery.open_file(passphrase, sealed).hex() == vector["plaintext"]
    header = recovery.parse_header(sealed)
    assert header == recovery.Header(params, salt, nonce)


def test_nfkc_forms_open_the_same_file() -> None:
    sealed = recovery.seal("ｃａｆｅ\u0301 au lait", b"keys", CHEAP)
    assert recovery.open_file("café au lait", sealed) == b"keys"


def test_the_file_shows_only_its_header() -> None:
    plaintext = b'{"account":"secret-seed-bytes"}' * 4
    sealed = recovery.seal("a long enough passphrase", plaintext, CHEAP)
    assert len(sealed) == recovery.HEADER_LEN + len(plaintext) + 16
    assert b"secret-seed-bytes" not in sealed
    assert b"account" not in sealed


def test_a_wrong_passphrase_and_every_changed_byte_are_refused() -> None:
    sealed = recovery.seal("a long enough passphrase", b"keys", CHEAP)
    with pytest.raises(VerificationFailed):
        recovery.open_file("a long enough passphrasE", sealed)
    # salt, nonce, ciphertext and tag: each flipped byte fails the tag (the header is the AAD)
    for at in (15, 30, 31, 42, recovery.HEADER_LEN, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[at] ^= 0x01
        with pytest.raises(VerificationFailed):
            recovery.open_file("a long enough passphrase", bytes(tampered))


@pytest.mark.parametrize(
    ("at", "value"),
    [(0, 0x00), (4, 2), (5, 2), (6, 0xFF), (13, 11), (14, 0), (14, 5)],
)
def test_a_header_out_of_bounds_is_not_hashed(at: int, value: int) -> None:
    sealed = bytearray(recovery.seal("a long enough passphrase", b"keys", CHEAP))
    sealed[at] = value
    with pytest.raises(ValueError, match=r"recovery file|must be in"):
        recovery.parse_header(bytes(sealed))


def test_short_input_is_not_a_file() -> None:
    with pytest.raises(ValueError, match="not a Hearth recovery file"):
        recovery.parse_header(b"HRCV\x01\x01")
    with pytest.raises(TypeError):
        recovery.parse_header("HRCV")  # type: ignore[arg-type]
