"""Padding buckets hide the length within a bucket."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import VerificationFailed
from crypto.padding import bucket_for, pad, unpad
from crypto.suite import MAX_CONTENT, PAD_BUCKETS


@given(st.binary(max_size=MAX_CONTENT))
def test_pad_round_trip_and_bucket(content: bytes) -> None:
    padded = pad(content)
    assert len(padded) in PAD_BUCKETS
    assert len(padded) == min(b for b in PAD_BUCKETS if b >= 4 + len(content))
    assert unpad(padded) == content


@given(st.data())
def test_padding_hides_length_within_a_bucket(data: st.DataObject) -> None:
    """Any two contents whose length lands in the same bucket pad to the same size."""
    bucket = data.draw(st.sampled_from(PAD_BUCKETS))
    low = 0 if bucket == PAD_BUCKETS[0] else PAD_BUCKETS[PAD_BUCKETS.index(bucket) - 1] - 3
    high = bucket - 4
    a = data.draw(st.binary(min_size=low, max_size=high))
    b = data.draw(st.binary(min_size=low, max_size=high))
    assert len(pad(a)) == len(pad(b)) == bucket


def test_bucket_edges() -> None:
    assert bucket_for(0) == 128
    assert bucket_for(124) == 128
    assert bucket_for(125) == 256
    assert bucket_for(MAX_CONTENT) == 16384
    with pytest.raises(ValueError, match="at most 16380"):
        bucket_for(MAX_CONTENT + 1)


@pytest.mark.parametrize(
    "padded",
    [
        bytes(127),  # not a bucket
        (5).to_bytes(4, "big") + b"hello" + b"\x01" + bytes(118),  # non-zero tail
        (125).to_bytes(4, "big") + bytes(124),  # length past the bucket
        (3).to_bytes(4, "big") + b"abc" + bytes(249),  # 256 bucket for a 128-bucket length
        (2**32 - 1).to_bytes(4, "big") + bytes(124),
    ],
)
def test_unpad_rejects_non_canonical(padded: bytes) -> None:
    with pytest.raises(VerificationFailed):
        unpad(padded)
