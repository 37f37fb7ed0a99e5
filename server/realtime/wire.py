"""Small helpers shared by the hub and the handlers: room names and base64url fields."""

from __future__ import annotations

from crypto.commits import EpochCommit, parse_commit, verify_commit
from crypto.encoding import b64decode
from crypto.errors import VerificationFailed
from crypto.suite import COMMIT_SUITES, SUITE, VERSION
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


def check_version(raw: bytes, what: str, suites: tuple[int, ...] = (SUITE,)) -> None:
    """Refuse another ``ver`` or ``suite`` before any parsing or cryptography (protocol §1): a
    client of a newer Hearth learns that it must speak version 1 here, not that its bytes are
    malformed. Every envelope, commit and report opening starts with ``ver(u8) ‖ suite(u16)``;
    commits may also be of the hybrid suite 2 (§6.9)."""
    if len(raw) >= 3 and (raw[0] != VERSION or int.from_bytes(raw[1:3], "big") not in suites):
        raise HearthError(
            Code.UNSUPPORTED_VERSION,
            f"this server speaks protocol version {VERSION}, cipher suite {SUITE}; "
            f"the {what} is of another version or suite",
        )


def signed_commit(raw: bytes) -> EpochCommit:
    """A well-formed commit whose committer's signature verifies, or invalid_commit."""
    check_version(raw, "commit", COMMIT_SUITES)
    try:
        commit = parse_commit(raw)
        verify_commit(commit)
    except (ValueError, TypeError, VerificationFailed):
        raise HearthError(
            Code.INVALID_COMMIT, "the commit is malformed or its signature does not verify"
        ) from None
    return commit
