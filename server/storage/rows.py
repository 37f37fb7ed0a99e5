"""Typed rows handed out by the stores (frozen values; no sqlite3.Row escapes storage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

JoinPolicy = Literal["approval", "open"]
PostingPolicy = Literal["always", "facilitator_present"]
MemberState = Literal["pending", "active", "left", "removed", "refused"]
LIVE_STATES: tuple[MemberState, ...] = ("pending", "active")


@dataclass(frozen=True, slots=True)
class GroupRow:
    group_id: bytes
    name: str
    rules: str
    retention_days: int
    join_policy: JoinPolicy
    posting_policy: PostingPolicy
    current_epoch: int
    epoch_started_at: int
    created_at: int
    slow_mode_seconds: int = 0  # least seconds between two messages of one member; 0: off
    newcomer_hold: int = 0  # a newcomer's messages held for the facilitators until N released
    newcomer_hold_since: int = 0  # members who joined before this are not newcomers
    schedule: str = ""  # weekly sessions, server/schedule.py's stored form; '' for none


@dataclass(frozen=True, slots=True)
class MemberRow:
    group_id: bytes
    member_id: bytes
    account_pk: bytes
    sig_pk: bytes
    kem_pk: bytes
    pseudonym: str
    skeleton: str
    state: MemberState
    facilitator_id: int | None
    first_epoch: int | None
    joined_at: int
    muted_until: int | None
    mute_rule: str | None = None  # why, as the facilitator gave it (shown to this member only)
    mute_note: str | None = None
    hold_released: int = 0  # of this member's held messages, how many a facilitator released
    pq_key: bytes | None = None  # pq_pk ‖ its signature (§6.9); None: suite 1 only

    def held_back_in(self, group: GroupRow) -> bool:
        """A newcomer whose messages go to the group's facilitators only (newcomer hold)."""
        return (
            group.newcomer_hold > 0
            and self.facilitator_id is None
            and self.joined_at >= group.newcomer_hold_since
            and self.hold_released < group.newcomer_hold
        )

    @property
    def keyed(self) -> bool:
        """Holds the current epoch's secret (a commit that includes it has landed)."""
        return self.state == "active" and self.first_epoch is not None


@dataclass(frozen=True, slots=True)
class InviteRow:
    invite_id: str
    group_id: bytes
    created_at: int
    expires_at: int
    max_uses: int
    uses: int
    revoked: bool
    banned_use: bool = False  # an account since banned joined with it (it was revoked then)


@dataclass(frozen=True, slots=True)
class CommitRow:
    group_id: bytes
    epoch: int
    commit_blob: bytes
    commit_hash: bytes
    created_at: int


@dataclass(frozen=True, slots=True)
class MessageRow:
    group_id: bytes
    seq: int
    msg_id: bytes
    sender_id: bytes
    epoch: int
    server_ts: int
    envelope: bytes | None
    kid: int
    rtag: bytes
    released_at: int | None = None  # a held message a facilitator released (newcomer hold)

    @property
    def deleted(self) -> bool:
        return self.envelope is None

    def with_seq(self, seq: int) -> MessageRow:
        """This message with ``seq`` (the relay's hot path: ``dataclasses.replace`` checks
        every field by name and costs twice as much)."""
        return MessageRow(
            self.group_id,
            seq,
            self.msg_id,
            self.sender_id,
            self.epoch,
            self.server_ts,
            self.envelope,
            self.kid,
            self.rtag,
            self.released_at,
        )


@dataclass(frozen=True, slots=True)
class ReportableMessage:
    """A stored message as a report is checked against it: its envelope header (kept by a
    tombstone too) and what the server recorded when it accepted it."""

    seq: int
    sender_id: bytes
    server_ts: int
    header: bytes


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A newcomer's message held for the group's facilitators (envelope None once declined)."""

    group_id: bytes
    msg_id: bytes
    sender_id: bytes
    epoch: int
    server_ts: int
    envelope: bytes | None
    kid: int
    rtag: bytes
    state: Literal["held", "declined"]
