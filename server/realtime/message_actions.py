"""A facilitator acts on a message straight from the conversation (`message.act`), with no
report: the console decrypts the group itself, so it needs no copy of the words, and the server
never gets one. The server knows who wrote a message from the header it verified and stored when
it accepted it (`sender_id`), so it acts on that member, whatever the asking page shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.encoding import b64encode
from moderation.actions import Action, Decision
from moderation.errors import InvalidDecision
from server.errors import Code, HearthError
from server.realtime import reportaccess, schemas
from server.realtime.events import Reply, event
from server.realtime.moderation import carry_out, rule_named
from server.realtime.state import Connection
from server.realtime.wire import decode_b64

if TYPE_CHECKING:
    from server.realtime.hub import Hub

NOT_A_FACILITATORS = (
    "a facilitator's message cannot be acted on from the conversation; "
    "a member can report it, and the organisation decides"
)


@event("message.act", schemas.MessageAct)
async def act_on_message(hub: Hub, connection: Connection, payload: schemas.MessageAct) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    msg_id = decode_b64(payload.msg_id, "msg_id", 16)
    await hub.require_facilitator(connection, group_id)
    assert connection.facilitator is not None  # require_facilitator checked it
    stored = await hub.messages.reportable(group_id, msg_id)
    if stored is None:
        raise HearthError(Code.NOT_FOUND, "no such message in this group (or retention removed it)")
    # Reports about a facilitator go to the organisation (reportaccess.py); so does acting on one.
    author = await reportaccess.facilitator_of_member(hub, group_id, stored.sender_id)
    if author is not None:
        raise HearthError(Code.FORBIDDEN, NOT_A_FACILITATORS)
    now = hub.clock()
    try:
        decision = Decision(
            action=Action(payload.action),
            facilitator=connection.facilitator.username,
            note=payload.note.strip(),
            mute_minutes=payload.mute_minutes,
            decided_at=now,
        )
    except InvalidDecision as error:
        raise HearthError(Code.BAD_REQUEST, str(error)) from None
    rule = await rule_named(hub, group_id, payload.rule)
    detail = await carry_out(
        hub, group_id, stored.sender_id, msg_id, stored.seq, decision, now, rule
    )
    member_id = b64encode(stored.sender_id)
    await hub.audit.record(
        at=now,
        actor=connection.facilitator.username,
        action=decision.action.value,
        group_id=group_id,
        subject=f"message {payload.msg_id}",
        detail={
            "member_id": member_id,
            "note": decision.note,
            "from": "conversation",
            **({"rule": rule} if rule else {}),
            **detail,
        },
    )
    return {"action": decision.action.value, "member_id": member_id, "seq": stored.seq}
