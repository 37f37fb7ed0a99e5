"""What the relay keeps in memory per connection and per group, so that the hot path (a
message arriving) needs no database read."""

from __future__ import annotations

from dataclasses import dataclass

from server.facilitator_auth import FacilitatorSession
from server.storage.rows import GroupRow, MemberRow


@dataclass(slots=True)
class Connection:
    sid: str
    account_pk: bytes
    facilitator: FacilitatorSession | None
    # groups whose facilitator this socket is (for facilitator presence and join requests);
    # replaced, never mutated: most connections are members', and the empty frozenset is shared
    # where an empty set would cost 216 bytes per connection
    facilitating: frozenset[bytes] = frozenset()
    # the facilitator session this socket had has ended: facilitator events answer
    # session_ended (realtime/facilitator_sessions.py)
    session_ended: bool = False
    history_in_flight: int = 0  # history.get requests being answered (history_limits.py)


@dataclass(slots=True)
class GroupState:
    """A group's settings and live members as last read from the database."""

    group: GroupRow
    members: dict[bytes, MemberRow]
    epoch_roster: frozenset[bytes]  # member ids the current epoch's commit was sealed to

    def member_of_account(self, account_pk: bytes) -> MemberRow | None:
        for member in self.members.values():
            if member.account_pk == account_pk:
                return member
        return None

    @property
    def active(self) -> list[MemberRow]:
        return [m for m in self.members.values() if m.state == "active"]

    @property
    def rotation_needed(self) -> bool:
        """Membership changed since the current epoch: a new commit must be sent."""
        return frozenset(m.member_id for m in self.active) != self.epoch_roster


@dataclass(slots=True)
class Counters:
    """How many messages the current epoch has carried (its cap asks for a rotation)."""

    epoch: int
    epoch_messages: int
