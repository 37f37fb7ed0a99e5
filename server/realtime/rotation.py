"""When a group's epoch is used up, and which one member is asked to send its next commit.

Asking every keyed member (as `rotation.needed` once did) made each of them build a commit:
in a 200-member group ~170 ms of each page's CPU and a 32 kB commit to every member, for one
commit that lands. The server names one member instead, and names another only when that one
goes away or has not committed within ``rotator_wait_seconds`` (docs/protocol.md, "Epoch
caps" and "Who rotates").
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crypto.encoding import b64encode
from server.config import GroupsConfig
from server.errors import HearthError
from server.realtime.state import GroupState
from server.storage.rows import MemberRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub

log = logging.getLogger("hearth.realtime")

HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def epoch_message_cap(config: GroupsConfig, members: int) -> int:
    """Messages an epoch of a group with ``members`` active members may carry."""
    return max(config.epoch_max_messages, config.epoch_messages_per_member * members)


def epoch_used_up(config: GroupsConfig, state: GroupState, messages: int, now_ms: int) -> bool:
    """The age cap ends an epoch at any count; the message cap only once it is
    ``epoch_min_minutes`` old, so that a busy group rotates at most once in that time."""
    age_ms = now_ms - state.group.epoch_started_at
    if age_ms > config.epoch_max_age_hours * HOUR_MS:
        return True
    return (
        messages >= epoch_message_cap(config, len(state.active))
        and age_ms >= config.epoch_min_minutes * MINUTE_MS
    )


@dataclass(slots=True)
class RotationRequest:
    """One group's standing request for its next commit, on this process."""

    epoch: int
    reason: str
    asked: set[bytes] = field(default_factory=set)  # member ids asked for this epoch
    sid: str | None = None  # the socket asked now
    timer: asyncio.TimerHandle | None = None
    naming: bool = False


class Rotators:
    """Names at most one connected member of a group at a time to send its next commit.

    The choice is the longest-connected facilitator of the group holding the current epoch;
    without one, a member holding it picked at random (a member cannot make itself the one by
    connecting early or sending at the cap), never one asked already for this epoch until
    every connected one has been. Further refused sends at the cap ask nobody new.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._requests: dict[bytes, RotationRequest] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def ask(self, group_id: bytes, reason: str, *, forward: bool = True) -> None:
        """The group needs a new epoch: name a member unless one is named already. With
        nobody to name on this process, ``forward`` asks the other processes (each may name
        one of its own: with several workers, at most one member per process is asked)."""
        try:
            state = await self.hub.group_state(group_id)
        except HearthError:  # the group is gone (a notice from another process)
            return
        request = self._requests.get(group_id)
        if request is not None and request.epoch == state.group.current_epoch:
            if request.sid is not None:
                return  # someone is asked; their deadline names the next
        else:
            if request is not None:
                self._drop(group_id)
            request = self._requests[group_id] = RotationRequest(state.group.current_epoch, reason)
        await self._name_next(group_id, request)
        if request.sid is None and forward:
            await self.hub.bus.publish(
                {"t": "rotate", "p": self.hub.bus.process_id, "g": group_id.hex(), "r": reason}
            )

    def connected(self, group_id: bytes) -> None:
        """A keyed member's socket is coming in: a request nobody could be named for names it
        (once connect has returned, so that the socket is accepted before it is asked)."""
        request = self._requests.get(group_id)
        if request is not None and request.sid is None and request.timer is None:
            self._later(0, group_id, request)  # (several coming in at once: one names)

    async def gone(self, sid: str) -> None:
        """A socket closed: if it was the one asked, ask the next member."""
        for group_id, request in list(self._requests.items()):
            if request.sid == sid:
                await self._name_next(group_id, request)

    def settled(self, group_id: bytes) -> None:
        """A commit landed: the group's request is answered."""
        self._drop(group_id)

    def _drop(self, group_id: bytes) -> None:
        request = self._requests.pop(group_id, None)
        if request is not None and request.timer is not None:
            request.timer.cancel()

    async def _name_next(self, group_id: bytes, request: RotationRequest) -> None:
        if request.naming:
            return  # (reading the group may wait: one naming at a time)
        request.naming = True
        try:
            await self._name(group_id, request)
        finally:
            request.naming = False

    async def _name(self, group_id: bytes, request: RotationRequest) -> None:
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        request.sid = None
        try:
            state = await self.hub.group_state(group_id)
        except HearthError:  # the group is gone
            self._drop(group_id)
            return
        if state.group.current_epoch != request.epoch or (
            request.reason == "membership" and not state.rotation_needed
        ):
            self._drop(group_id)
            return
        named = self._choose(state, request.asked)
        if named is None and request.asked:
            request.asked.clear()  # everyone connected was asked: go round again
            named = self._choose(state, request.asked)
        if named is None:
            return  # nobody here holds the epoch: the next one to connect is asked
        member, sid = named
        request.asked.add(member.member_id)
        request.sid = sid
        self._later(self.hub.config.groups.rotator_wait_seconds, group_id, request)
        await self.hub.sio.emit(
            "rotation.needed",
            {
                "group_id": b64encode(group_id),
                "epoch": request.epoch,
                "reason": request.reason,
                "rotator": b64encode(member.member_id),
            },
            to=sid,
        )

    def _later(self, wait_s: float, group_id: bytes, request: RotationRequest) -> None:
        """Name the next member after ``wait_s`` unless the request is answered by then."""

        def expired() -> None:
            if self._requests.get(group_id) is request:
                if wait_s:
                    log.info("no commit within %s s of asking a member: asking another", wait_s)
                task = asyncio.ensure_future(self._name_next(group_id, request))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        request.timer = asyncio.get_running_loop().call_later(wait_s, expired)

    def _choose(self, state: GroupState, asked: set[bytes]) -> tuple[MemberRow, str] | None:
        """A connected member holding the current epoch, not asked yet, and one of its
        sockets (the longest-connected one)."""
        holders = {
            m.account_pk: m
            for m in state.active
            if m.member_id in state.epoch_roster and m.member_id not in asked
        }
        first_socket: dict[bytes, str] = {}
        for sid, connection in self.hub.connections.items():  # in the order they connected
            member = holders.get(connection.account_pk)
            if member is None or connection.account_pk in first_socket:
                continue
            if member.facilitator_id is not None:
                return member, sid
            first_socket[connection.account_pk] = sid
        if not first_socket:
            return None
        account = secrets.choice(list(first_socket))
        return holders[account], first_socket[account]
