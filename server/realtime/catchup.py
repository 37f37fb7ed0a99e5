"""What a process has delivered to its own sockets, so that after a Redis outage it can send them
exactly what they missed.

While Redis is down, each process stores and delivers its own clients' messages, but the other
processes' broadcasts do not reach it. Every group message has a ``seq`` (contiguous per group,
docs/protocol.md), so each process keeps, per group whose room it serves, which ``seq``s have
passed through its fan-out: every seq up to ``floor``, and the ones above it in ``above``. When
the link to Redis is back, it reads from the database the group's messages above ``floor`` and
delivers to its local room those it has not delivered (``replay``). A broadcast that arrives
after the replay sent its messages (it was published as the link came back) is screened: the
messages already delivered are removed, so no socket gets a message twice from its process.

Epochs likewise: the highest epoch announced to the local room is kept, and the commits after it
are announced again on return (a client ignores an epoch it holds).

Tracking starts when a socket of this process first enters the group's room, at the group's
highest seq then: what was sent before is the page's history, not a live delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import socketio

from crypto.encoding import b64encode
from server.realtime.views import message_view
from server.realtime.wire import group_room
from server.storage.groups import GroupStore
from server.storage.messages import MessageStore

GROUP_ROOM_PREFIX = group_room(b"")
# A group whose ``above`` grows past this has lost a delivery for good without an outage being
# noticed; it is forgotten (and logged) rather than kept for ever.
MAX_ABOVE = 10_000


@dataclass(slots=True)
class _Group:
    start: int  # the group's highest seq when tracking began
    floor: int  # every seq in (start, floor] was delivered here
    epoch: int  # the highest epoch announced to the local room
    above: set[int] = field(default_factory=set)  # delivered seqs above floor

    def delivered(self, seq: int) -> bool:
        return self.start < seq <= self.floor or seq in self.above

    def mark(self, seq: int) -> bool:
        """Record ``seq`` as delivered; False if it was already."""
        if self.delivered(seq):
            return False
        if seq <= self.start:
            return True  # older than tracking: never a duplicate of a replay
        self.above.add(seq)
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.discard(self.floor)
        if len(self.above) > MAX_ABOVE:
            self.floor = max(self.above)
            self.above.clear()
        return True


class DeliveryLedger:
    def __init__(self) -> None:
        self._groups: dict[bytes, _Group] = {}

    def tracking(self, group_id: bytes) -> bool:
        return group_id in self._groups

    def start(self, group_id: bytes, last_seq: int, epoch: int) -> None:
        if group_id not in self._groups:
            self._groups[group_id] = _Group(start=last_seq, floor=last_seq, epoch=epoch)

    def groups(self) -> list[bytes]:
        return list(self._groups)

    def floor(self, group_id: bytes) -> int:
        return self._groups[group_id].floor

    def epoch(self, group_id: bytes) -> int:
        return self._groups[group_id].epoch

    def mark(self, group_id: bytes, seq: int) -> bool:
        """Record a delivery; False if the local room had this seq already."""
        group = self._groups.get(group_id)
        return True if group is None else group.mark(seq)

    def announced(self, group_id: bytes, epoch: int) -> None:
        group = self._groups.get(group_id)
        if group is not None and epoch > group.epoch:
            group.epoch = epoch

    def screen(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A pub/sub manager's emit (python-socketio's message dict) with the messages this
        process has delivered already removed; None if nothing is left to send."""
        room = message.get("room")
        event = message.get("event")
        if not isinstance(room, str) or not room.startswith(GROUP_ROOM_PREFIX):
            return message
        if event not in ("msg", "msg.batch", "epoch.new"):
            return message
        group_id = bytes.fromhex(room[len(GROUP_ROOM_PREFIX) :])
        data = message["data"]
        payload = data[0]
        if event == "epoch.new":
            self.announced(group_id, int(payload["epoch"]))
            return message
        if event == "msg":
            return message if self.mark(group_id, int(payload["seq"])) else None
        fresh = [view for view in payload["messages"] if self.mark(group_id, int(view["seq"]))]
        if len(fresh) == len(payload["messages"]):
            return message
        if not fresh:
            return None
        return {**message, "data": [{**payload, "messages": fresh}, *data[1:]]}


REPLAY_PAGE = 500


async def replay_missed(
    sio: socketio.AsyncServer,
    messages: MessageStore,
    ledger: DeliveryLedger,
    group_id: bytes,
    batch: int,
) -> int:
    """Deliver to this process's sockets in the group's room the messages stored since its
    floor that it has not delivered; returns how many. Sent here only (``ignore_queue``): each
    process replays for its own sockets."""
    room, sent, after = group_room(group_id), 0, ledger.floor(group_id)
    while True:
        rows = await messages.after(group_id, after, limit=REPLAY_PAGE)
        fresh = [message_view(row) for row in rows if ledger.mark(group_id, row.seq)]
        for i in range(0, len(fresh), max(1, batch)):
            chunk = fresh[i : i + max(1, batch)]
            if batch <= 1:
                await sio.emit("msg", chunk[0], room=room, ignore_queue=True)
            else:
                await sio.emit(
                    "msg.batch",
                    {"group_id": b64encode(group_id), "messages": chunk},
                    room=room,
                    ignore_queue=True,
                )
        sent += len(fresh)
        if len(rows) < REPLAY_PAGE:
            return sent
        after = rows[-1].seq


async def reannounce_epochs(
    sio: socketio.AsyncServer,
    groups: GroupStore,
    ledger: DeliveryLedger,
    group_id: bytes,
    current_epoch: int,
) -> None:
    """Announce to the local room the commits it was not sent (``epoch.new``, as live)."""
    held = ledger.epoch(group_id)
    if current_epoch <= held:
        return
    for commit in await groups.commits_from(group_id, held + 1):
        await sio.emit(
            "epoch.new",
            {
                "group_id": b64encode(group_id),
                "epoch": commit.epoch,
                "commit": b64encode(commit.commit_blob),
            },
            room=group_room(group_id),
            ignore_queue=True,
        )
    ledger.announced(group_id, current_epoch)
