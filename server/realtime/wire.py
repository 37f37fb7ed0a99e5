"""Small helpers shared by the hub and the handlers: room names and base64url fields."""

from __future__ import annotations

from crypto.commits import EpochCommit, parse_commit, verify_commit
from crypto.encoding import b64decode
from crypto.errors import VerificationFailed
from server.errors import Code, HearthError


def group_room(group_id: bytes) -> str:
    """Sockets of members keyed into the group's current epoch: they receive its traffic."""
    return "g:" + group_id.hex()


def account_room(account_pk: bytes) -> str:
    """Every socket of one account, on any process: notices meant for that person."""
    return "a:" + account_pk.hex()


FACILITATOR_ROOM_PREFIX = "f:"


def facilitator_room(group_id: bytes) -> str:
    """Sockets of the group's facilitators: they receive join requests (and reports)."""
    return FACILITATOR_ROOM_PREFIX + group_id.hex()


def decode_b64(value: str, what: str, length: int | None = None) -> bytes:
    try:
        raw = b64decode(value)
    except (ValueError, TypeError):
        raise HearthError(Code.BAD_REQUEST, f"{what} is not valid base64url") from None
    if length is not None and len(raw) != length:
        raise HearthError(Code.BAD_REQUEST, f"{what} must be {length} bytes")
    return raw


def signed_commit(raw: bytes) -> EpochCommit:
    """A well-formed commit whose committer's signature verifies, or invalid_commit."""
    try:
        commit = parse_commit(raw)
        verify_commit(commit)
    except (ValueError, TypeError, VerificationFailed):
        raise HearthError(
            Code.INVALID_COMMIT, "the commit is malformed or its signature does not verify"
        ) from None
    return commit
