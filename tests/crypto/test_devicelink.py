"""The device link's PAKE (crypto/devicelink.py) against its vectors and its properties."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import devicelink
from crypto.errors import VerificationFailed

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "hearth-devices-v1.json").read_text()
)


@pytest.mark.parametrize("vector", VECTORS["link"], ids=lambda v: v["name"])
def test_link_vectors(vector: dict[str, str]) -> None:
    ya, yb = bytes.fromhex(vector["ya"]), bytes.fromhex(vector["yb"])
    code = vector["code"]
    assert devicelink.link_id(code).hex() == vector["link_id"]
    assert devicelink.generator(code).hex() == vector["generator"]
    share_a = devicelink.share(code, ya)
    share_b = devicelink.share(vector["code_b"], yb)
    assert share_a.hex() == vector["share_a"]
    assert share_b.hex() == vector["share_b"]
    keys = devicelink.derive(code, ya, share_a, share_b, own=share_a)
    assert keys.transcript.hex() == vector["transcript"]
    assert keys.confirm_a.hex() == vector["confirm_a"]
    assert keys.confirm_b.hex() == vector["confirm_b"]
    sealed = bytes.fromhex(vector["sealed_chunk_1_of_2"])
    nonce = bytes.fromhex(vector["chunk_nonce"])
    assert devicelink.seal_chunk(keys, 1, 2, bytes.fromhex(vector["chunk"]), nonce) == sealed
    assert devicelink.open_chunk(keys, 1, 2, sealed).hex() == vector["chunk"]
    matches = vector["code_b"] == code
    assert (vector["confirm_b_sent"] == vector["confirm_b"]) is matches


@pytest.mark.parametrize("vector", VECTORS["elligator2"], ids=lambda v: v["r"][:12])
def test_elligator2_lands_on_the_curve(vector: dict[str, str]) -> None:
    u = devicelink.elligator2(int(vector["r"]))
    assert str(u) == vector["u"]
    p, a = devicelink.P, devicelink.MONTGOMERY_A
    assert pow((u**3 + a * u * u + u) % p, (p - 1) // 2, p) in (0, 1)  # u is on curve25519


def test_a_wrong_code_fails_confirmation_for_both_sides() -> None:
    code = devicelink.new_code()
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    ya, yb = os.urandom(32), os.urandom(32)
    share_a, share_b = devicelink.share(code, ya), devicelink.share(wrong, yb)
    keys_a = devicelink.derive(code, ya, share_a, share_b, own=share_a)
    keys_b = devicelink.derive(wrong, yb, share_a, share_b, own=share_b)
    with pytest.raises(VerificationFailed):
        devicelink.check_tag(keys_a.confirm_b, keys_b.confirm_b)
    with pytest.raises(VerificationFailed):
        devicelink.check_tag(keys_b.confirm_a, keys_a.confirm_a)
    sealed = devicelink.seal_chunk(keys_a, 0, 1, b"keys", os.urandom(12))
    with pytest.raises(VerificationFailed):
        devicelink.open_chunk(keys_b, 0, 1, sealed)


def test_the_slot_alone_decides_the_link_id() -> None:
    assert devicelink.link_id("ABCD-0000-0000") == devicelink.link_id("abcd-zzzz-zzzz")
    assert devicelink.generator("ABCD-0000-0000") != devicelink.generator("ABCD-0000-0001")


def test_a_chunk_is_bound_to_its_place() -> None:
    code = devicelink.new_code()
    ya, yb = os.urandom(32), os.urandom(32)
    share_a, share_b = devicelink.share(code, ya), devicelink.share(code, yb)
    keys = devicelink.derive(code, ya, share_a, share_b, own=share_a)
    sealed = devicelink.seal_chunk(keys, 0, 2, b"first", os.urandom(12))
    for index, total in ((1, 2), (0, 1), (0, 3)):
        with pytest.raises(VerificationFailed):
            devicelink.open_chunk(keys, index, total, sealed)


@pytest.mark.parametrize(
    "text", ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKMU", "ABCD EFGH JKM!"]
)
def test_malformed_codes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="a code is 12 characters"):
        devicelink.normalise_code(text)


def test_low_order_shares_abort() -> None:
    with pytest.raises(VerificationFailed):
        devicelink.derive("ABCD-EFGH-JKMN", os.urandom(32), bytes(32), bytes(32), own=bytes(32))


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_round_trip(ya: bytes, yb: bytes) -> None:
    code = devicelink.new_code()
    share_a, share_b = devicelink.share(code, ya), devicelink.share(code, yb)
    assert devicelink.derive(code, ya, share_a, share_b, own=share_a) == devicelink.derive(
        code, yb, share_a, share_b, own=share_b
    )
