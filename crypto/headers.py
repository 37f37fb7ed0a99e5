"""The 103-byte message header, shared by envelopes and report openings (§7.1)."""

from dataclasses import dataclass

from crypto.fields import Reader, require_bytes, require_epoch
from crypto.suite import (
    COMMITMENT_LEN,
    GROUP_ID_LEN,
    MEMBER_ID_LEN,
    MSG_ID_LEN,
    NONCE_LEN,
    PREFIX,
    u64,
)


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """``ver ‖ suite ‖ group_id ‖ epoch ‖ sender_id ‖ msg_id ‖ nonce ‖ C``; the AEAD's AAD."""

    group_id: bytes
    epoch: int
    sender_id: bytes
    msg_id: bytes
    nonce: bytes
    commitment: bytes

    def __post_init__(self) -> None:
        require_bytes("group_id", self.group_id, GROUP_ID_LEN)
        require_epoch(self.epoch)
        require_bytes("sender_id", self.sender_id, MEMBER_ID_LEN)
        require_bytes("msg_id", self.msg_id, MSG_ID_LEN)
        require_bytes("nonce", self.nonce, NONCE_LEN)
        require_bytes("commitment", self.commitment, COMMITMENT_LEN)

    def encode(self) -> bytes:
        """The 103-byte wire form."""
        return (
            PREFIX
            + self.group_id
            + u64(self.epoch)
            + self.sender_id
            + self.msg_id
            + self.nonce
            + self.commitment
        )


def read_header(reader: Reader) -> EnvelopeHeader:
    """Read a header from ``reader`` (ValueError on unknown version/suite or epoch 0)."""
    reader.prefix()
    group_id = reader.take(GROUP_ID_LEN)
    epoch = reader.uint(8)
    if epoch == 0:
        raise ValueError("header: epoch must be at least 1")
    return EnvelopeHeader(
        group_id=group_id,
        epoch=epoch,
        sender_id=reader.take(MEMBER_ID_LEN),
        msg_id=reader.take(MSG_ID_LEN),
        nonce=reader.take(NONCE_LEN),
        commitment=reader.take(COMMITMENT_LEN),
    )
