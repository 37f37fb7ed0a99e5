"""Key schedule: HKDF with salt = group_id ‖ u64(epoch) and info = "hearth-v1 " ‖ label."""

import os

import pytest

from crypto.kdf import hkdf_sha256
from crypto.schedule import confirm_key, derive_key, sender_key


def test_definitions() -> None:
    secret, group_id, member_id = os.urandom(32), os.urandom(16), os.urandom(16)
    salt = group_id + (7).to_bytes(8, "big")
    assert confirm_key(secret, group_id, 7) == hkdf_sha256(
        ikm=secret, salt=salt, info=b"hearth-v1 confirm", length=32
    )
    assert sender_key(secret, group_id, 7, member_id) == hkdf_sha256(
        ikm=secret, salt=salt, info=b"hearth-v1 sender" + member_id, length=16
    )


def test_keys_differ_per_epoch_group_and_member() -> None:
    secret, group_id, member_id = os.urandom(32), os.urandom(16), os.urandom(16)
    base = sender_key(secret, group_id, 1, member_id)
    assert sender_key(secret, group_id, 2, member_id) != base
    assert sender_key(secret, os.urandom(16), 1, member_id) != base
    assert sender_key(secret, group_id, 1, os.urandom(16)) != base


@pytest.mark.parametrize(
    ("secret", "group_id", "epoch", "length"),
    [
        (bytes(31), bytes(16), 1, 16),
        (bytes(32), bytes(15), 1, 16),
        (bytes(32), bytes(16), 0, 16),
        (bytes(32), bytes(16), 2**64, 16),
        (bytes(32), bytes(16), 1, 0),
        (bytes(32), bytes(16), 1, 65),
    ],
)
def test_malformed(secret: bytes, group_id: bytes, epoch: int, length: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        derive_key(secret, group_id, epoch, b"x", length)


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        derive_key(bytes(32), bytes(16), True, b"x", 16)
    with pytest.raises(TypeError):
        sender_key(bytes(32), bytes(16), 1, "m" * 16)  # type: ignore[arg-type]
