"""The report of a verified message, as the queue stores and shows it."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Any

from crypto.encoding import b64decode, b64encode
from moderation.actions import Decision


@enum.unique
class Priority(enum.Enum):
    """Ordered: ``Priority.URGENT > Priority.NORMAL``, so ``max()`` combines classifiers."""

    NORMAL = "normal"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank >= other.rank


_RANKS = {Priority.NORMAL: 0, Priority.URGENT: 1}


class ReportState(enum.Enum):
    OPEN = "open"
    RESOLVED = "resolved"


def new_report_id() -> str:
    """128 random bits: unguessable, so an id seen in a log cannot be used to probe others."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class NewReport:
    """What the server hands in once ``verify_report`` has accepted a report.

    It names no reporter. ``duplicate_key`` is an opaque 32-byte keyed hash the server computes
    from the message and the reporter: equal for two reports of one message by one person, and
    unrelated across messages, so it links nothing. A backend stores it only to refuse a second
    report and never shows or sends it (``to_json`` leaves it out). ``about_facilitator`` marks
    a report about a message a facilitator of the group wrote: that facilitator never sees it;
    the group's other facilitators and the organisation do (docs/moderation.md).
    """

    group_id: bytes
    msg_id: bytes
    seq: int
    content: str
    content_type: int
    sender_id: bytes
    message_ts: int
    reported_at: int
    reason: str
    about_facilitator: bool
    duplicate_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Report:
    report_id: str
    group_id: bytes
    msg_id: bytes
    seq: int
    content: str
    content_type: int
    sender_id: bytes
    message_ts: int
    reported_at: int
    reason: str
    priority: Priority
    state: ReportState
    resolved_at: int | None
    decision: Decision | None
    about_facilitator: bool
    # Server-side only (see NewReport); not compared, so a report read back from its JSON
    # (which never carries the key) equals the one that was sent.
    duplicate_key: bytes = field(repr=False, compare=False)

    @classmethod
    def opened(
        cls,
        new: NewReport,
        *,
        priority: Priority = Priority.NORMAL,
        report_id: str | None = None,
    ) -> Report:
        return cls(
            report_id=new_report_id() if report_id is None else report_id,
            group_id=new.group_id,
            msg_id=new.msg_id,
            seq=new.seq,
            content=new.content,
            content_type=new.content_type,
            sender_id=new.sender_id,
            message_ts=new.message_ts,
            reported_at=new.reported_at,
            reason=new.reason,
            priority=priority,
            state=ReportState.OPEN,
            resolved_at=None,
            decision=None,
            about_facilitator=new.about_facilitator,
            duplicate_key=new.duplicate_key,
        )

    def to_json(self) -> dict[str, Any]:
        """What facilitators and the organisation are shown: never the reporter, nor the
        ``duplicate_key`` (docs/protocol.md lists each field and its type)."""
        return {
            "report_id": self.report_id,
            "group_id": b64encode(self.group_id),
            "msg_id": b64encode(self.msg_id),
            "seq": self.seq,
            "content": self.content,
            "content_type": self.content_type,
            "sender_id": b64encode(self.sender_id),
            "message_ts": self.message_ts,
            "reported_at": self.reported_at,
            "reason": self.reason,
            "priority": self.priority.value,
            "state": self.state.value,
            "resolved_at": self.resolved_at,
            "decision": None if self.decision is None else self.decision.to_json(),
            "about_facilitator": self.about_facilitator,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """The inverse of ``to_json`` (with an empty ``duplicate_key``, which JSON never
        carries); raises ``KeyError``/``ValueError`` on a malformed dict."""
        decision = data["decision"]
        return cls(
            report_id=str(data["report_id"]),
            group_id=b64decode(data["group_id"]),
            msg_id=b64decode(data["msg_id"]),
            seq=int(data["seq"]),
            content=str(data["content"]),
            content_type=int(data["content_type"]),
            sender_id=b64decode(data["sender_id"]),
            message_ts=int(data["message_ts"]),
            reported_at=int(data["reported_at"]),
            reason=str(data["reason"]),
            priority=Priority(data["priority"]),
            state=ReportState(data["state"]),
            resolved_at=None if data["resolved_at"] is None else int(data["resolved_at"]),
            decision=None if decision is None else Decision.from_json(decision),
            about_facilitator=_flag(data["about_facilitator"]),
            duplicate_key=b"",
        )


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("about_facilitator must be true or false")
    return value
