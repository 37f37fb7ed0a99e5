"""How stored rows are shown to clients (binary as base64url without padding)."""

from __future__ import annotations

from typing import Any

from crypto.encoding import b64encode
from server import schedule
from server.storage.rows import GroupRow, HeldMessage, InviteRow, MemberRow, MessageRow


def group_view(group: GroupRow) -> dict[str, Any]:
    return {
        "group_id": b64encode(group.group_id),
        "name": group.name,
        "rules": group.rules,
        "retention_days": group.retention_days,
        "join_policy": group.join_policy,
        "posting_policy": group.posting_policy,
        "current_epoch": group.current_epoch,
        "slow_mode_seconds": group.slow_mode_seconds,
        "newcomer_hold": group.newcomer_hold,
        "schedule": [s.view() for s in schedule.decode(group.schedule)],
    }


def member_view(member: MemberRow) -> dict[str, Any]:
    return {
        "member_id": b64encode(member.member_id),
        "sig_pk": b64encode(member.sig_pk),
        "kem_pk": b64encode(member.kem_pk),
        "pq_key": None if member.pq_key is None else b64encode(member.pq_key),
        "pseudonym": member.pseudonym,
        "state": member.state,
        "role": "facilitator" if member.facilitator_id is not None else "member",
        "first_epoch": member.first_epoch,
    }


def invite_view(invite: InviteRow) -> dict[str, Any]:
    return {
        "invite_id": invite.invite_id,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "revoked": invite.revoked,
        "banned_use": invite.banned_use,
    }


def message_view(message: MessageRow) -> dict[str, Any]:
    view = {
        "group_id": b64encode(message.group_id),
        "seq": message.seq,
        "msg_id": b64encode(message.msg_id),
        "sender_id": b64encode(message.sender_id),
        "epoch": message.epoch,
        "server_ts": message.server_ts,
        "envelope": None if message.envelope is None else b64encode(message.envelope),
        "kid": message.kid,
        "rtag": b64encode(message.rtag),
    }
    if message.released_at is not None:  # held for the facilitators, then released
        view["released_at"] = message.released_at
    return view


def held_view(held: HeldMessage) -> dict[str, Any]:
    return {
        "group_id": b64encode(held.group_id),
        "msg_id": b64encode(held.msg_id),
        "sender_id": b64encode(held.sender_id),
        "epoch": held.epoch,
        "server_ts": held.server_ts,
        "envelope": None if held.envelope is None else b64encode(held.envelope),
        "kid": held.kid,
        "rtag": b64encode(held.rtag),
        "state": held.state,
    }


def mute_view(member: MemberRow, now: int) -> dict[str, Any] | None:
    """A member's own mute, while it lasts: until when, and why as the facilitator gave it.
    Shown to that member only (groups.list), never in others' member lists."""
    if member.muted_until is None or member.muted_until <= now:
        return None
    return {"until": member.muted_until, "rule": member.mute_rule, "note": member.mute_note}
