"""One schema per client event. Payloads are decoded strictly (unknown fields, wrong types and
out-of-range values are refused) before any handler sees them."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

B64 = Annotated[str, msgspec.Meta(min_length=1, max_length=90_000, pattern=r"^[A-Za-z0-9_-]+$")]
# A commit: the hybrid suite 2 takes 2496 bytes per member (docs/protocol.md §6.9), 3.3 MB as
# base64url for the largest roster; the frame limit (server.max_message_bytes) bounds it first.
CommitB64 = Annotated[
    str, msgspec.Meta(min_length=1, max_length=3_400_000, pattern=r"^[A-Za-z0-9_-]+$")
]
Id16 = Annotated[str, msgspec.Meta(min_length=22, max_length=22, pattern=r"^[A-Za-z0-9_-]+$")]
Id32 = Annotated[str, msgspec.Meta(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
Key32 = Annotated[str, msgspec.Meta(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Rules = Annotated[str, msgspec.Meta(max_length=4000)]
RetentionDays = Annotated[int, msgspec.Meta(ge=1, le=3650)]
# Seconds between one member's messages (0: off); the server's own maximum
# (groups.max_slow_mode_seconds) may be lower than this bound.
SlowModeSeconds = Annotated[int, msgspec.Meta(ge=0, le=86_400)]
# How many of a newcomer's messages are held for the facilitators (0: off).
NewcomerHold = Annotated[int, msgspec.Meta(ge=0, le=20)]
Epoch = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
Token = Annotated[str, msgspec.Meta(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
InviteId = Annotated[str, msgspec.Meta(min_length=16, max_length=16, pattern=r"^[0-9a-f]+$")]
Pseudonym = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# pq_pk(1184) ‖ sig(64) in base64url: a member's signed ML-KEM-768 key (§6.9)
PqKeyB64 = Annotated[
    str, msgspec.Meta(min_length=1664, max_length=1664, pattern=r"^[A-Za-z0-9_-]+$")
]


class Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class Empty(Strict, frozen=True):
    pass


class MemberKeysIn(Strict, frozen=True):
    member_id: Id16
    sig_pk: Key32
    kem_pk: Key32
    pseudonym: Pseudonym
    pq_key: PqKeyB64 | None = None  # absent: a client of suite 1 only


class SessionIn(Strict, frozen=True):
    """One weekly session; server/schedule.py checks the values (``bad_schedule``)."""

    day: Annotated[str, msgspec.Meta(max_length=16)]
    start: Annotated[str, msgspec.Meta(max_length=16)]
    end: Annotated[str, msgspec.Meta(max_length=16)]


# A week's sessions; server/schedule.py allows fewer (MAX_SESSIONS) and says so as bad_schedule.
Schedule = Annotated[list[SessionIn], msgspec.Meta(max_length=64)]


class GroupCreate(Strict, frozen=True):
    group_id: Id16
    name: Name
    rules: Rules
    posting_policy: Literal["always", "facilitator_present"]
    member: MemberKeysIn
    commit: CommitB64
    # A new group lets no one in without a facilitator unless it says so (bans that stick).
    join_policy: Literal["approval", "open"] = "approval"
    retention_days: RetentionDays | None = None
    slow_mode_seconds: SlowModeSeconds = 0
    newcomer_hold: NewcomerHold = 0
    schedule: Schedule | None = None


class GroupUpdate(Strict, frozen=True):
    group_id: Id16
    name: Name | None = None
    rules: Rules | None = None
    retention_days: RetentionDays | None = None
    join_policy: Literal["approval", "open"] | None = None
    posting_policy: Literal["always", "facilitator_present"] | None = None
    slow_mode_seconds: SlowModeSeconds | None = None
    newcomer_hold: NewcomerHold | None = None
    schedule: Schedule | None = None  # [] removes the schedule


class GroupRef(Strict, frozen=True):
    group_id: Id16


class InviteCreate(Strict, frozen=True):
    group_id: Id16
    expires_in_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 90)] | None = None
    max_uses: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    invite_key: B64 | None = None  # invite_pk ‖ issuer_id ‖ cert_sig (§6.4)


class InviteRevoke(Strict, frozen=True):
    group_id: Id16
    invite_id: InviteId


class InvitePreview(Strict, frozen=True):
    token: Token


class GroupJoin(Strict, frozen=True):
    token: Token
    member: MemberKeysIn
    accept_rules: Literal[True]
    admission: B64 | None = None  # an invite admission, for an open group (§6.4)


class JoinDecide(Strict, frozen=True):
    group_id: Id16
    member_id: Id16
    approve: bool
    admission: B64 | None = None  # the facilitator's signed admission; needed to approve


class GroupLeave(Strict, frozen=True):
    group_id: Id16
    leave: B64 | None = None  # the member's signed leave (§6.4)


class MemberRemove(Strict, frozen=True):
    group_id: Id16
    member_id: Id16
    removal: B64 | None = None  # the facilitator's signed removal (§6.4)


class FacilitatorRef(Strict, frozen=True):
    group_id: Id16
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class FacilitatorAccept(Strict, frozen=True):
    group_id: Id16
    member: MemberKeysIn


class MemberRef(Strict, frozen=True):
    group_id: Id16
    member_id: Id16


class PqKeyIn(Strict, frozen=True):
    group_id: Id16
    pq_key: PqKeyB64


class EpochCommitIn(Strict, frozen=True):
    group_id: Id16
    commit: CommitB64


class EpochFlag(Strict, frozen=True):
    group_id: Id16
    epoch: Epoch


class EpochList(Strict, frozen=True):
    group_id: Id16
    from_epoch: Epoch | None = None
    from_commit_hash: Id32 | None = None  # a newcomer's invite anchor (§6.7)


class MessageSend(Strict, frozen=True):
    group_id: Id16
    envelope: B64


class HeldList(Strict, frozen=True):
    group_id: Id16


class HeldDecide(Strict, frozen=True):
    group_id: Id16
    msg_id: Id16
    release: bool


class HistoryGet(Strict, frozen=True):
    group_id: Id16
    before_seq: Seq | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class MessageDelete(Strict, frozen=True):
    group_id: Id16
    msg_id: Id16


class ConnectAuth(Strict, frozen=True):
    v: Literal[1]
    account_pk: Key32
    challenge: B64
    sig: B64


ReportId = Annotated[str, msgspec.Meta(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]
Note = Annotated[str, msgspec.Meta(max_length=500)]


class ReportSubmit(Strict, frozen=True):
    group_id: Id16
    opening: B64
    reason: Note = ""


class ModerationList(Strict, frozen=True):
    group_id: Id16 | None = None
    state: Literal["open", "resolved"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    before: ReportId | None = None


class ReportRef(Strict, frozen=True):
    report_id: ReportId


class ModerationAct(Strict, frozen=True):
    report_id: ReportId
    action: Literal["dismiss", "hide_message", "warn", "mute", "remove_member", "ban_account"]
    note: Note = ""
    rule: Note = ""  # a line of the group's rules that the warning or mute is about
    mute_minutes: Annotated[int, msgspec.Meta(ge=1, le=43_200)] | None = None


class AuditList(Strict, frozen=True):
    group_id: Id16
    before_seq: Seq | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class MessageAct(Strict, frozen=True):
    """A facilitator's decision about a message, taken from the conversation (no report)."""

    group_id: Id16
    msg_id: Id16
    action: Literal["hide_message", "warn", "mute", "remove_member", "ban_account"]
    note: Note = ""
    rule: Note = ""  # a line of the group's rules that the warning or mute is about
    mute_minutes: Annotated[int, msgspec.Meta(ge=1, le=43_200)] | None = None
