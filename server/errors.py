"""What clients may see when something is refused: a stable code and a message for people.

Debug detail stays in the server's log (never a payload, an address or a secret); the client
gets only ``{"ok": false, "error": {"code": ..., "message": ...}}`` (Socket.IO acks) or the
same ``error`` object as an HTTP JSON body.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Code(StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_EVENT = "unknown_event"
    UNKNOWN_NAMESPACE = "unknown_namespace"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_LARGE = "too_large"
    AUTH_REQUIRED = "auth_required"
    AUTH_FAILED = "auth_failed"
    SESSION_ENDED = "session_ended"
    CHALLENGE_USED = "challenge_used"
    BAD_CREDENTIALS = "bad_credentials"
    FORBIDDEN = "forbidden"
    BANNED = "banned"
    NOT_FOUND = "not_found"
    NOT_MEMBER = "not_member"
    INVITE_INVALID = "invite_invalid"
    ALREADY_MEMBER = "already_member"
    ALREADY_EXISTS = "already_exists"
    LAST_FACILITATOR = "last_facilitator"
    MEMBER_ID_TAKEN = "member_id_taken"
    GROUP_FULL = "group_full"
    PSEUDONYM_INVALID = "pseudonym_invalid"
    PSEUDONYM_TAKEN = "pseudonym_taken"
    WRONG_EPOCH = "wrong_epoch"
    EPOCH_CONFLICT = "epoch_conflict"
    ROSTER_MISMATCH = "roster_mismatch"
    INVALID_COMMIT = "invalid_commit"
    INVALID_AUTHORISATION = "invalid_authorisation"
    UNAUTHORISED_CHANGE = "unauthorised_change"
    SUITE_DOWNGRADE = "suite_downgrade"
    HYBRID_REQUIRED = "hybrid_required"
    INVALID_ENVELOPE = "invalid_envelope"
    DUPLICATE_MESSAGE = "duplicate_message"
    ROTATION_REQUIRED = "rotation_required"
    POSTING_CLOSED = "posting_closed"
    MUTED = "muted"
    SLOW_MODE = "slow_mode"
    BAD_SCHEDULE = "bad_schedule"
    REPORT_UNVERIFIABLE = "report_unverifiable"
    REPORT_EXPIRED = "report_expired"
    ALREADY_REPORTED = "already_reported"
    ALREADY_RESOLVED = "already_resolved"
    LINK_TAKEN = "link_taken"
    LINK_USED = "link_used"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    STORAGE_FULL = "storage_full"
    INTERNAL = "internal"


class HearthError(Exception):
    """A refusal a client may see. ``message`` must never contain user content or secrets."""

    def __init__(self, code: Code, message: str, **extra: Any) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code.value, "message": self.message}
        error.update(self.extra)
        return {"ok": False, "error": error}


HTTP_STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.TOO_LARGE: 413,
    Code.AUTH_REQUIRED: 401,
    Code.AUTH_FAILED: 401,
    Code.SESSION_ENDED: 401,
    Code.CHALLENGE_USED: 401,
    Code.BAD_CREDENTIALS: 401,
    Code.FORBIDDEN: 403,
    Code.BANNED: 403,
    Code.NOT_FOUND: 404,
    Code.RATE_LIMITED: 429,
    Code.UNAVAILABLE: 503,
    Code.STORAGE_FULL: 503,
    Code.INTERNAL: 500,
}


def http_status(code: Code) -> int:
    return HTTP_STATUS.get(code, 400)
