"""Events for messages: the relay's hot path.

``msg.send`` does everything that can fail before it touches the database, assigns the
group's next sequence number synchronously (so messages keep their arrival order), and
acknowledges only after the batch holding the message has committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.envelopes import parse_envelope, verify_envelope
from crypto.errors import VerificationFailed
from crypto.franking import compute_rtag
from server.errors import Code, HearthError
from server.realtime import holds, schemas
from server.realtime.events import Reply, event
from server.realtime.history_limits import limit_history
from server.realtime.rotation import epoch_used_up
from server.realtime.slowmode import SlowMode
from server.realtime.state import Connection, GroupState
from server.realtime.views import message_view
from server.realtime.wire import check_version, decode_b64, group_room
from server.storage.messages import HeldEarlier
from server.storage.rows import MemberRow, MessageRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub


ACK_FIELDS = ("seq", "server_ts", "kid", "rtag")


def _ack(message: MessageRow) -> Reply:
    return _ack_of(message_view(message))


def _ack_of(view: Reply) -> Reply:
    return {key: view[key] for key in ACK_FIELDS}


@event("msg.send", schemas.MessageSend)
async def send_message(hub: Hub, connection: Connection, payload: schemas.MessageSend) -> Reply:
    await hub.limit(hub.limits.messages, connection)
    group_id = decode_b64(payload.group_id, "group_id", 16)
    raw = decode_b64(payload.envelope, "envelope")
    check_version(raw, "envelope")
    try:
        envelope = parse_envelope(raw)
    except (ValueError, TypeError):
        raise HearthError(Code.INVALID_ENVELOPE, "the envelope is malformed") from None
    header = envelope.header
    if header.group_id != group_id:
        raise HearthError(Code.INVALID_ENVELOPE, "the envelope is for another group")
    state = await hub.group_state(group_id)
    sender = state.members.get(header.sender_id)
    if sender is None or sender.account_pk != connection.account_pk:
        raise HearthError(Code.FORBIDDEN, "you can only send as your own member of this group")
    if not sender.keyed:
        raise HearthError(Code.NOT_MEMBER, "you are not yet part of this group's current epoch")
    try:
        # First: even a resend that only returns a stored acknowledgement must be signed.
        verify_envelope(envelope, sender.sig_pk)
    except VerificationFailed:
        raise HearthError(
            Code.INVALID_ENVELOPE, "the envelope's signature does not verify"
        ) from None
    now = hub.clock()
    _check_may_post(hub, state, sender, now)
    counters = hub.counters(group_id)
    if header.epoch > state.group.current_epoch:
        # Another process may have accepted the commit a moment ago: look again before refusing.
        state = await hub.reload_group(group_id)
        counters = hub.counters(group_id)
    if header.epoch != state.group.current_epoch:
        # A resend of a message stored before a rotation gets its original acknowledgement.
        earlier = await hub.messages.by_msg_id(group_id, header.msg_id)
        if earlier is not None and earlier.sender_id == header.sender_id:
            return _ack(earlier)
        raise _wrong_epoch(state.group.current_epoch)
    if epoch_used_up(hub.config.groups, state, counters.epoch_messages, now):
        await hub.announce_rotation(group_id, "epoch_limit")
        raise HearthError(
            Code.ROTATION_REQUIRED, "this epoch is used up; send again after the next commit"
        )
    slow, previous = SlowMode.applies(state.group, sender), None
    if slow:
        previous = await hub.slow_mode.admit(hub.messages, state.group, sender, header.msg_id, now)
    counters.epoch_messages += 1
    kid = hub.keyring.current_kid
    message = MessageRow(
        group_id=group_id,
        seq=0,  # assigned in the write transaction: several processes may share the database
        msg_id=header.msg_id,
        sender_id=header.sender_id,
        epoch=header.epoch,
        server_ts=now,
        envelope=raw,
        kid=kid,
        rtag=compute_rtag(hub.keyring.frank_key, header, now),
    )
    held_back = sender.held_back_in(state.group)
    stored: MessageRow | HeldEarlier | None = None
    if not held_back:
        try:
            stored = await hub.messages.store(message)
        except Exception:
            # Nothing was stored (storage_full, a closing database, ...): it used none of the
            # epoch. (Not on cancellation: the write goes on in its batch and may well commit.)
            counters.epoch_messages -= 1
            raise
        # A message once held stays held (or declined) when resent after its sender's hold ended.
        held_back = isinstance(stored, HeldEarlier)
    if held_back:
        # A newcomer's message goes to the facilitators only (holds.py).
        try:
            kept, fresh = await holds.hold(hub, message)
        except Exception:
            counters.epoch_messages -= 1
            raise
        if not fresh:
            counters.epoch_messages -= 1
            if slow:
                hub.slow_mode.restore(state.group, sender, previous)
        if kept is None:
            state = await hub.reload_group(group_id)
            raise _wrong_epoch(state.group.current_epoch)
        if isinstance(kept, MessageRow):  # released meanwhile: its acknowledgement as stored
            if kept.sender_id != message.sender_id:
                raise HearthError(
                    Code.DUPLICATE_MESSAGE, "this msg_id is already used in this group"
                )
            return _ack(kept)
        return kept
    if not isinstance(stored, MessageRow):  # None: the group moved to another epoch meanwhile
        counters.epoch_messages -= 1
        if slow:
            hub.slow_mode.restore(state.group, sender, previous)
        state = await hub.reload_group(group_id)
        raise _wrong_epoch(state.group.current_epoch)
    if stored.server_ts != now or stored.rtag != message.rtag:  # an earlier copy was kept
        counters.epoch_messages -= 1
        if slow:
            hub.slow_mode.restore(state.group, sender, previous)
        if stored.sender_id != message.sender_id:
            raise HearthError(Code.DUPLICATE_MESSAGE, "this msg_id is already used in this group")
        return _ack(stored)
    hub.stats.messages_accepted += 1
    view = message_view(stored)  # built once: the broadcast (encoded once) and the ack share it
    await hub.deliveries.deliver(group_id, view, connection.sid)
    return _ack_of(view)


def _wrong_epoch(current: int) -> HearthError:
    return HearthError(
        Code.WRONG_EPOCH, f"messages must use the current epoch {current}", current_epoch=current
    )


def _check_may_post(hub: Hub, state: GroupState, sender: MemberRow, now: int) -> None:
    if sender.muted_until is not None and sender.muted_until > now:
        raise HearthError(
            Code.MUTED,
            "a facilitator has muted you in this group for now",
            muted_until=sender.muted_until,
            rule=sender.mute_rule,
            note=sender.mute_note,
        )
    if (
        state.group.posting_policy == "facilitator_present"
        and sender.facilitator_id is None
        and not hub.facilitator_online(sender.group_id)
    ):
        raise HearthError(
            Code.POSTING_CLOSED,
            "this group is open for messages only while a facilitator is online",
        )


async def _keyed_member(hub: Hub, connection: Connection, group_id: bytes) -> MemberRow:
    """The connection's membership if it holds the group's keys: a pending or not yet keyed
    member can only wait (docs/protocol.md, "What a member may do before it is keyed")."""
    member = await hub.member_for(connection, group_id)
    if not member.keyed:
        raise HearthError(
            Code.NOT_MEMBER, "you are not yet part of this group; wait until you are let in"
        )
    return member


@event("history.get", schemas.HistoryGet)
@limit_history
async def get_history(hub: Hub, connection: Connection, payload: schemas.HistoryGet) -> Reply:
    """Older messages, newest first, only from the epochs the member was keyed into."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    member = await _keyed_member(hub, connection, group_id)
    assert member.first_epoch is not None  # keyed
    rows = await hub.messages.page(
        group_id,
        before_seq=payload.before_seq,
        min_epoch=member.first_epoch,
        limit=payload.limit + 1,
    )
    return {
        "messages": [message_view(r) for r in rows[: payload.limit]],
        "more": len(rows) > payload.limit,
    }


@event("msg.delete", schemas.MessageDelete)
async def delete_message(hub: Hub, connection: Connection, payload: schemas.MessageDelete) -> Reply:
    """A member deletes their own message: the ciphertext goes, a tombstone keeps its place."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    msg_id = decode_b64(payload.msg_id, "msg_id", 16)
    member = await _keyed_member(hub, connection, group_id)
    stored = await hub.messages.by_msg_id(group_id, msg_id)
    if stored is None or stored.sender_id != member.member_id:
        raise HearthError(Code.NOT_FOUND, "you have no such message in this group")
    deleted = await hub.messages.tombstone(group_id, msg_id)
    if deleted is not None:
        await hub.sio.emit(
            "msg.deleted",
            {
                "group_id": payload.group_id,
                "seq": deleted.seq,
                "msg_id": payload.msg_id,
                "by": "sender",
            },
            room=group_room(group_id),
        )
    return {"seq": stored.seq}
