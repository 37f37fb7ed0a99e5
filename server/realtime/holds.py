"""Newcomer hold: pre-moderation under end-to-end encryption.

In a group with ``newcomer_hold`` = N > 0, a member who joined since the hold was turned on is a
newcomer until a facilitator has released N of their messages. A newcomer's message is signed,
checked and stored like any other, but held apart (storage/holds.py) and sent only to the
group's facilitators, who read it with the member keys they hold like any member; the server
routes by membership and role, never by content. A facilitator releases it (it joins the group's
log with the next seq and a ``released_at`` mark, and is delivered to everyone) or declines it
(its ciphertext is dropped and its sender is told, kindly).

Nothing held reaches ``history.get``, catch-up or any member's delivery: it has no seq until it
is released. A newcomer cannot get round the hold with another msg_id (each message is held),
by leaving and joining again (a new membership is a newcomer again), or by asking for history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.encoding import b64encode
from server.errors import Code, HearthError
from server.realtime import schemas
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.views import held_view, message_view
from server.realtime.wire import account_room, decode_b64
from server.storage.rows import HeldMessage, MessageRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub

DECLINED = (
    "A facilitator decided not to share your message with the group. It has been deleted; "
    "nobody else saw it. If you are unsure why, you can ask a facilitator."
)


def _held_ack(held: HeldMessage) -> Reply:
    return {
        "held": True,
        "state": held.state,
        "msg_id": b64encode(held.msg_id),
        "server_ts": held.server_ts,
        "kid": held.kid,
        "rtag": b64encode(held.rtag),
    }


async def hold(hub: Hub, message: MessageRow) -> tuple[Reply | MessageRow | None, bool]:
    """Hold a newcomer's message for the facilitators. Returns its acknowledgement, the stored
    message if this msg_id was released already, or None if the epoch moved meanwhile; and
    whether it was newly held (a resend is not announced again)."""
    kept = await hub.holds.hold(message)
    if kept is None or isinstance(kept, MessageRow):
        return kept, False
    if kept.sender_id != message.sender_id:
        raise HearthError(Code.DUPLICATE_MESSAGE, "this msg_id is already used in this group")
    fresh = kept.server_ts == message.server_ts and kept.rtag == message.rtag
    if fresh:
        await hub.emit_to_facilitators(message.group_id, "msg.held", held_view(kept))
    return _held_ack(kept), fresh


async def _is_facilitator(hub: Hub, connection: Connection, group_id: bytes) -> bool:
    facilitator = await hub.current_facilitator(connection)
    return facilitator is not None and await hub.groups.is_group_facilitator(
        group_id, facilitator.facilitator_id
    )


@event("held.list", schemas.HeldList)
async def list_held(hub: Hub, connection: Connection, payload: schemas.HeldList) -> Reply:
    """A facilitator of the group: every message waiting for a decision. A member: their own
    held and declined messages (so a reload still shows them as waiting, or as not shared)."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    if await _is_facilitator(hub, connection, group_id):
        return {"held": [held_view(h) for h in await hub.holds.waiting(group_id)]}
    member = await hub.member_for(connection, group_id)
    if not member.keyed:
        raise HearthError(
            Code.NOT_MEMBER, "you are not yet part of this group; wait until you are let in"
        )
    return {"held": [held_view(h) for h in await hub.holds.of_sender(group_id, member.member_id)]}


@event("held.decide", schemas.HeldDecide)
async def decide_held(hub: Hub, connection: Connection, payload: schemas.HeldDecide) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    msg_id = decode_b64(payload.msg_id, "msg_id", 16)
    await hub.require_facilitator(connection, group_id)
    assert connection.facilitator is not None  # require_facilitator checked it
    held = await hub.holds.get(group_id, msg_id)
    if held is None or held.state != "held":
        raise HearthError(Code.NOT_FOUND, "no message of this group is waiting with this msg_id")
    state = await hub.group_state(group_id)
    sender = state.members.get(held.sender_id)
    if payload.release and (sender is None or not sender.keyed):
        raise HearthError(
            Code.NOT_MEMBER, "its sender is no longer in this group: it can only be declined"
        )
    now = hub.clock()
    outcome: Reply = {"group_id": payload.group_id, "msg_id": payload.msg_id}
    if payload.release:
        released = await hub.holds.release(group_id, msg_id, now)
        if released is None:
            raise HearthError(Code.NOT_FOUND, "this message is no longer waiting")
        await hub.changed({"t": "reload", "g": group_id.hex()})  # the sender's count moved
        # Everyone in the room, the facilitator who released it included.
        await hub.deliveries.deliver(group_id, message_view(released), "")
        outcome |= {"outcome": "released", "seq": released.seq}
    else:
        if await hub.holds.decline(group_id, msg_id) is None:
            raise HearthError(Code.NOT_FOUND, "this message is no longer waiting")
        if sender is not None:
            await hub.sio.emit(
                "msg.declined",
                {"group_id": payload.group_id, "msg_id": payload.msg_id, "message": DECLINED},
                room=account_room(sender.account_pk),
            )
        outcome |= {"outcome": "declined"}
    await hub.audit.record(
        at=now,
        actor=connection.facilitator.username,
        action="release_held" if payload.release else "decline_held",
        group_id=group_id,
        subject=payload.msg_id,
        detail={"member_id": b64encode(held.sender_id)},
    )
    await hub.emit_to_facilitators(group_id, "held.decided", outcome)
    return outcome
