"""Strict base64url without padding."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import b64decode, b64encode


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    text = b64encode(data)
    assert "=" not in text
    assert b64decode(text) == data
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "QQ==",  # padding
        "QQ=",
        "Q Q",  # whitespace
        "QQ\n",
        "QUJD+w",  # standard alphabet, not url-safe
        "QUJD/w",
        "Q",  # impossible length
        "QR",  # non-canonical trailing bits ("QQ" is canonical for b"A")
        "QUJ",  # canonical is "QUI"
        "é",
    ],
)
def test_rejects_non_canonical_text(text: str) -> None:
    with pytest.raises(ValueError, match="base64url text"):
        b64decode(text)


def test_types() -> None:
    with pytest.raises(TypeError):
        b64decode(b"QQ")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b64encode("A")  # type: ignore[arg-type]
    assert b64decode("") == b""
    assert b64encode(b"\xfb\xff") == "-_8"


def reference_decode(text: str) -> bytes | None:
    """The definition: the bytes whose encoding is exactly ``text``, or None."""
    if any(
        c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text
    ):
        return None
    if len(text) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if b64encode(data) == text else None


@given(st.text(alphabet="AQgw_-+/=Zz09 \né\x00", max_size=12))
def test_decode_accepts_exactly_the_canonical_encodings(text: str) -> None:
    expected = reference_decode(text)
    if expected is None:
        with pytest.raises(ValueError, match="base64url text"):
            b64decode(text)
    else:
        assert b64decode(text) == expected
