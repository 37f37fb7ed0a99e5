"""The epoch key schedule (docs/protocol.md §5): every key of an epoch comes from its secret."""

from crypto.fields import require_bytes, require_epoch, require_int
from crypto.kdf import hkdf_sha256
from crypto.suite import (
    GROUP_ID_LEN,
    KEY_LABEL_CONFIRM,
    KEY_LABEL_SENDER,
    KEY_LEN,
    LABEL_KEY,
    MAC_LEN,
    MEMBER_ID_LEN,
    SECRET_LEN,
    u64,
)


def derive_key(
    epoch_secret: bytes, group_id: bytes, epoch: int, label: bytes, length: int
) -> bytes:
    """K(label, L) = HKDF-SHA256(ikm=epoch_secret, salt=group_id ‖ u64(epoch),
    info="hearth-v1 " ‖ label, L).

    The salt binds each key to its group and epoch, so the same secret reused by mistake in
    another group or epoch still yields unrelated keys.
    """
    require_bytes("epoch_secret", epoch_secret, SECRET_LEN)
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_epoch(epoch)
    require_bytes("label", label)
    require_int("length", length, 1, 64)
    return hkdf_sha256(
        ikm=epoch_secret, salt=group_id + u64(epoch), info=LABEL_KEY + label, length=length
    )


def confirm_key(epoch_secret: bytes, group_id: bytes, epoch: int) -> bytes:
    """HMAC key of the commit's ``confirm`` tag."""
    return derive_key(epoch_secret, group_id, epoch, KEY_LABEL_CONFIRM, MAC_LEN)


def sender_key(epoch_secret: bytes, group_id: bytes, epoch: int, member_id: bytes) -> bytes:
    """AES-128-GCM key of one sender in one epoch (every member can derive it)."""
    require_bytes("member_id", member_id, MEMBER_ID_LEN)
    return derive_key(epoch_secret, group_id, epoch, KEY_LABEL_SENDER + member_id, KEY_LEN)
