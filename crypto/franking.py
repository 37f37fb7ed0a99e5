"""Message franking: plaintext commitments, server report tags and report openings (§8–§9).

Messenger's scheme, with the invisible-salamanders lesson applied: ``C`` commits to the
plaintext itself (AES-GCM is not key-committing, so committing only to a key would let a sender
show two different plaintexts), and ``rtag`` binds C to the sender and the server's time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crypto.content import check_content
from crypto.errors import VerificationFailed
from crypto.fields import Reader, require_bytes, require_int, require_u64
from crypto.headers import EnvelopeHeader, read_header
from crypto.mac import hmac_sha256
from crypto.suite import (
    FRANKING_KEY_LEN,
    GROUP_ID_LEN,
    LABEL_FRANK,
    LABEL_RTAG,
    MAC_LEN,
    MAX_CONTENT,
    MEMBER_ID_LEN,
    MSG_ID_LEN,
    RTAG_LEN,
    u8,
    u32,
    u64,
)

if TYPE_CHECKING:
    from crypto.envelopes import OpenedMessage

_U32_MAX = 2**32 - 1


def commitment(
    franking_key: bytes,
    group_id: bytes,
    epoch: int,
    sender_id: bytes,
    msg_id: bytes,
    content_type: int,
    content: bytes,
) -> bytes:
    """C = HMAC-SHA256(Kf, LABEL_FRANK ‖ group_id ‖ u64(epoch) ‖ sender_id ‖ msg_id ‖
    content_type ‖ content); every field before content has a fixed size, so it parses one way."""
    require_bytes("franking_key", franking_key, FRANKING_KEY_LEN)
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_u64("epoch", epoch)
    require_bytes("sender_id", sender_id, MEMBER_ID_LEN)
    require_bytes("msg_id", msg_id, MSG_ID_LEN)
    require_int("content_type", content_type, 0, 255)
    require_bytes("content", content)
    data = LABEL_FRANK + group_id + u64(epoch) + sender_id + msg_id + u8(content_type) + content
    return hmac_sha256(franking_key, data)


def compute_rtag(frank_key: bytes, header: EnvelopeHeader, server_ts: int) -> bytes:
    """rtag = HMAC-SHA256(frank_key, LABEL_RTAG ‖ group_id ‖ u64(epoch) ‖ sender_id ‖ msg_id ‖
    u64(server_ts) ‖ C), computed by the server when it accepts a message."""
    require_bytes("frank_key", frank_key, MAC_LEN)
    if not isinstance(header, EnvelopeHeader):
        raise TypeError("header must be EnvelopeHeader")
    require_u64("server_ts", server_ts)
    data = (
        LABEL_RTAG
        + header.group_id
        + u64(header.epoch)
        + header.sender_id
        + header.msg_id
        + u64(server_ts)
        + header.commitment
    )
    return hmac_sha256(frank_key, data)


@dataclass(frozen=True, slots=True)
class ReportOpening:
    """What a reporter reveals: the header, Kf, the content and the server's tag, no key."""

    header: EnvelopeHeader
    franking_key: bytes
    content_type: int
    content: bytes
    server_ts: int
    kid: int
    rtag: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.header, EnvelopeHeader):
            raise TypeError("header must be EnvelopeHeader")
        require_bytes("franking_key", self.franking_key, FRANKING_KEY_LEN)
        check_content(self.content_type, self.content)
        require_u64("server_ts", self.server_ts)
        require_int("kid", self.kid, 0, _U32_MAX)
        require_bytes("rtag", self.rtag, RTAG_LEN)

    def encode(self) -> bytes:
        """header ‖ Kf ‖ content_type ‖ u32(len) ‖ content ‖ u64(server_ts) ‖ u32(kid) ‖ rtag."""
        return (
            self.header.encode()
            + self.franking_key
            + u8(self.content_type)
            + u32(len(self.content))
            + self.content
            + u64(self.server_ts)
            + u32(self.kid)
            + self.rtag
        )


def parse_report_opening(data: bytes) -> ReportOpening:
    """Parse a report opening strictly; ``ValueError`` on any malformed field."""
    reader = Reader("report opening", data)
    header = read_header(reader)
    franking_key = reader.take(FRANKING_KEY_LEN)
    content_type = reader.uint(1)
    length = reader.uint(4)
    if length > MAX_CONTENT:
        raise ValueError(f"report opening: content longer than {MAX_CONTENT} bytes")
    content = reader.take(length)
    server_ts = reader.uint(8)
    kid = reader.uint(4)
    rtag = reader.take(RTAG_LEN)
    reader.finish()
    return ReportOpening(header, franking_key, content_type, content, server_ts, kid, rtag)


def build_report_opening(
    opened: OpenedMessage, *, server_ts: int, kid: int, rtag: bytes
) -> ReportOpening:
    """The opening a member sends to report a message it opened."""
    return ReportOpening(
        header=opened.header,
        franking_key=opened.franking_key,
        content_type=opened.content_type,
        content=opened.content,
        server_ts=server_ts,
        kid=kid,
        rtag=rtag,
    )


def verify_report(opening: ReportOpening, frank_keys: Mapping[int, bytes]) -> None:
    """Server side: the rtag is ours and C opens to this content, else ``VerificationFailed``.

    Both tags are computed and compared in constant time before deciding, so the time taken
    does not say which one failed.
    """
    if not isinstance(opening, ReportOpening):
        raise TypeError("opening must be ReportOpening")
    frank_key = frank_keys.get(opening.kid)
    if frank_key is None:
        raise VerificationFailed
    header = opening.header
    expected_rtag = compute_rtag(frank_key, header, opening.server_ts)
    expected_c = commitment(
        opening.franking_key,
        header.group_id,
        header.epoch,
        header.sender_id,
        header.msg_id,
        opening.content_type,
        opening.content,
    )
    rtag_ok = hmac.compare_digest(expected_rtag, opening.rtag)
    c_ok = hmac.compare_digest(expected_c, header.commitment)
    if not (rtag_ok and c_ok):
        raise VerificationFailed
