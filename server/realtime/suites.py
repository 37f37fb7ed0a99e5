"""The cipher-suite negotiation of a group (docs/protocol.md §6.9): a group moves to the hybrid
suite 2 once every member's client sent an ML-KEM key and its commits fit a frame, and its suite
never goes down. Clients refuse a downgrade themselves (§6.5); the server refusing it too keeps a
broken or hostile member from stalling the group with a commit honest clients would refuse."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from crypto.commits import EpochCommit
from crypto.suite import HYBRID_ENTRY_LEN, HYBRID_WRAP_LEN, SUITE, SUITE_HYBRID
from server.config import ServerConfig
from server.errors import Code, HearthError
from server.storage.rows import CommitRow, MemberRow

# What a suite-2 commit of n members may take beside its header and trailer (177 bytes): entry,
# pq key, wrap, a facilitator id and the largest authorisation (an invite admission) per member.
_PER_MEMBER: Final = HYBRID_ENTRY_LEN + HYBRID_WRAP_LEN + 16 + 285
_FRAME_OVERHEAD: Final = 256  # the Socket.IO packet and the JSON around the base64url commit


def commit_suite(raw: bytes) -> int:
    """The suite of a stored commit (``ver ‖ suite`` starts it; §6.1), read without parsing."""
    return int.from_bytes(raw[1:3], "big")


def hybrid_capacity(server: ServerConfig) -> int:
    """The most members whose suite-2 commit surely fits the largest frame a commit may take."""
    return members_fitting(max(server.max_message_bytes, server.max_commit_bytes))


def members_fitting(frame_bytes: int) -> int:
    """The most members whose suite-2 commit surely fits one frame of ``frame_bytes``."""
    commit_bytes = (frame_bytes - _FRAME_OVERHEAD) * 3 // 4  # base64url: 4 chars per 3
    return max(0, (commit_bytes - 177) // _PER_MEMBER)


def group_suite(head: list[CommitRow]) -> int:
    """The suite of a group whose current commit is ``head[0]`` (suite 1 before any)."""
    return commit_suite(head[0].commit_blob) if head else SUITE


def check_commit_suite(
    commit: EpochCommit, current_suite: int, active: Iterable[MemberRow], capacity: int
) -> None:
    """Refuse a commit that lowers the suite, stays on suite 1 though every active member sent
    an ML-KEM key (and the group fits ``capacity``), or seals to ML-KEM keys the members did not
    send."""
    if commit.suite < current_suite:
        raise HearthError(
            Code.SUITE_DOWNGRADE,
            "this group is protected against future quantum computers; its suite cannot go down",
        )
    pq_keys = {m.member_id: m.pq_key for m in active}
    if commit.suite == SUITE and pq_keys and all(pq_keys.values()) and len(pq_keys) <= capacity:
        raise HearthError(
            Code.SUITE_DOWNGRADE,
            "every member's client supports the hybrid suite: the commit must be of suite 2",
        )
    if commit.suite == SUITE_HYBRID and any(
        pq_keys.get(member_id) != key.encode() for member_id, key in commit.pq_map().items()
    ):
        raise HearthError(
            Code.ROSTER_MISMATCH, "the commit's ML-KEM keys are not the ones the members sent"
        )
