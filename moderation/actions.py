"""What a facilitator may decide about a report, as a validated value."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from moderation.errors import InvalidDecision

MUTE_MINUTES_MAX = 43_200  # 30 days: longer silences should be a removal, decided as such
NOTE_MAX = 2000


class Action(enum.Enum):
    DISMISS = "dismiss"
    HIDE_MESSAGE = "hide_message"
    WARN = "warn"
    MUTE = "mute"
    REMOVE_MEMBER = "remove_member"
    BAN_ACCOUNT = "ban_account"


def _is_int(value: object) -> bool:
    # bool is an int subclass; True minutes or a True timestamp is a bug at the caller.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    facilitator: str
    note: str
    mute_minutes: int | None
    decided_at: int

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            raise InvalidDecision(f"action must be an Action, got {self.action!r}")
        if not isinstance(self.facilitator, str) or not self.facilitator:
            raise InvalidDecision("facilitator must be a non-empty string")
        if not isinstance(self.note, str) or len(self.note) > NOTE_MAX:
            raise InvalidDecision(f"note must be a string of at most {NOTE_MAX} characters")
        if not _is_int(self.decided_at) or self.decided_at < 0:
            raise InvalidDecision("decided_at must be a non-negative int (ms)")
        if self.action is Action.MUTE:
            minutes = self.mute_minutes
            if not _is_int(minutes) or not 1 <= minutes <= MUTE_MINUTES_MAX:  # type: ignore[operator]
                raise InvalidDecision(f"mute needs mute_minutes in 1..{MUTE_MINUTES_MAX}")
        elif self.mute_minutes is not None:
            raise InvalidDecision(f"{self.action.value} takes no mute_minutes")

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "facilitator": self.facilitator,
            "note": self.note,
            "mute_minutes": self.mute_minutes,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        try:
            return cls(
                action=Action(data["action"]),
                facilitator=data["facilitator"],
                note=data["note"],
                mute_minutes=data["mute_minutes"],
                decided_at=data["decided_at"],
            )
        except (KeyError, ValueError, TypeError) as error:
            if isinstance(error, InvalidDecision):
                raise
            raise InvalidDecision(f"not a decision: {error!r}") from None
