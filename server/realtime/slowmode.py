"""Slow mode: the least time between two messages of one member of a group.

A group's facilitator sets it (``slow_mode_seconds``; 0 is off) and the server enforces it in
``msg.send``. Facilitators of the group are exempt: they must be able to answer and calm a room
that slow mode is holding back. The time of a member's last message is the later of what this
process accepted last and what the database holds (another process may have accepted it), so
neither a second connection nor a second worker process gets around it. A resend of a message
already accepted (same msg_id) is never refused: it only gets its acknowledgement again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.errors import Code, HearthError
from server.storage.rows import GroupRow, MemberRow

if TYPE_CHECKING:
    from server.storage.messages import MessageStore


@dataclass(frozen=True, slots=True)
class LastMessage:
    at: int  # server time (ms) the message was accepted
    msg_id: bytes


class SlowMode:
    """What this process accepted last from each member of a group in slow mode."""

    def __init__(self) -> None:
        self._last: dict[tuple[bytes, bytes], LastMessage] = {}

    @staticmethod
    def applies(group: GroupRow, sender: MemberRow) -> bool:
        return group.slow_mode_seconds > 0 and sender.facilitator_id is None

    async def admit(
        self,
        messages: MessageStore,
        group: GroupRow,
        sender: MemberRow,
        msg_id: bytes,
        now: int,
    ) -> LastMessage | None:
        """Let ``msg_id`` through or raise ``slow_mode`` with the wait; on success returns what
        to ``restore`` if the message then is not stored."""
        key = (group.group_id, sender.member_id)
        stored_at = await messages.last_sent_at(group.group_id, sender.member_id)
        # No await from here on: two sends racing in this process see each other.
        previous = self._last.get(key)
        if previous is not None and previous.msg_id == msg_id:
            return previous  # a resend of the one just accepted: the store deduplicates it
        last = max(stored_at or 0, previous.at if previous is not None else 0)
        wait = last + group.slow_mode_seconds * 1000 - now
        if last and wait > 0:
            resent = await messages.by_msg_id(group.group_id, msg_id)
            if resent is not None and resent.sender_id == sender.member_id:
                return previous  # a resend of a stored message: it gets its acknowledgement
            raise HearthError(
                Code.SLOW_MODE,
                f"slow mode is on in this group: one message every "
                f"{group.slow_mode_seconds} seconds",
                retry_after_ms=wait,
                slow_mode_seconds=group.slow_mode_seconds,
            )
        self._last[key] = LastMessage(now, msg_id)
        if len(self._last) > 100_000:  # old entries: the database holds them anyway
            self._forget_before(now - 86_400_000)
        return previous

    def restore(self, group: GroupRow, sender: MemberRow, previous: LastMessage | None) -> None:
        """The admitted message was not stored after all (a rotation won the race)."""
        key = (group.group_id, sender.member_id)
        if previous is None:
            self._last.pop(key, None)
        else:
            self._last[key] = previous

    def _forget_before(self, cutoff: int) -> None:
        for key in [k for k, v in self._last.items() if v.at < cutoff]:
            del self._last[key]
