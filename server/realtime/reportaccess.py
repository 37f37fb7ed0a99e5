"""Who may learn of a report: never who made it, and never the facilitator it is about.

A report names no reporter (moderation/reports.py): a keyed hash of message and reporter is all
the server keeps to refuse a second report. A report about a message a facilitator of the group
wrote is marked ``about_facilitator``: that facilitator is not told of it, does not see it in
``moderation.list``/``moderation.get`` and cannot decide it; the group's other facilitators can,
and the organisation sees it in its backend (``hearth reports``, the webhook). docs/moderation.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crypto.mac import hmac_sha256
from moderation.reports import Report
from server.errors import Code, HearthError
from server.storage.rows import MemberState

if TYPE_CHECKING:
    from collections.abc import Iterable

    from server.realtime.hub import Hub
    from server.realtime.state import Connection

LABEL_DUPLICATE = b"hearth-v1 report-duplicate"
_EVERY_STATE: tuple[MemberState, ...] = ("pending", "active", "left", "removed", "refused")
NOT_YOURS = "you cannot see or decide this report"


def duplicate_key(key: bytes, group_id: bytes, msg_id: bytes, account_pk: bytes) -> bytes:
    """HMAC(key, label ‖ group_id ‖ msg_id ‖ account_pk): one value per message and person, so
    it refuses a second report without naming the reporter or linking their reports."""
    return hmac_sha256(key, LABEL_DUPLICATE + group_id + msg_id + account_pk)


async def facilitator_of_member(hub: Hub, group_id: bytes, member_id: bytes) -> int | None:
    """The facilitator account behind a member of a group, if that member is a facilitator."""
    member = await hub.groups.member(group_id, member_id)
    return None if member is None else member.facilitator_id


async def own_member_ids(hub: Hub, facilitator_id: int, group_ids: Iterable[bytes]) -> list[bytes]:
    """Every member id this facilitator has had in these groups (reports about them are hidden
    from them)."""
    own: list[bytes] = []
    for group_id in group_ids:
        members = await hub.groups.members(group_id, _EVERY_STATE)
        own.extend(m.member_id for m in members if m.facilitator_id == facilitator_id)
    return own


async def check_not_about(hub: Hub, report: Report, facilitator_id: int) -> None:
    """Refuse a facilitator a report about one of their own messages (as ``forbidden``, with
    the words used for any report they may not see)."""
    if await facilitator_of_member(hub, report.group_id, report.sender_id) == facilitator_id:
        raise HearthError(Code.FORBIDDEN, NOT_YOURS)


async def tell_facilitators(hub: Hub, event: str, report: Report, view: dict[str, Any]) -> None:
    """Push ``event`` to the group's facilitators, leaving out the one the report is about.

    A report about a facilitator goes to each other facilitator's sockets on this process; a
    co-facilitator connected to another worker sees it in ``moderation.list`` (docs/moderation.md).
    """
    if not report.about_facilitator:
        await hub.emit_to_facilitators(report.group_id, event, view)
        return
    subject = await facilitator_of_member(hub, report.group_id, report.sender_id)
    if subject is None:
        return  # the author is unknown: tell no one rather than risk telling them
    for connection in list(hub.connections.values()):
        if not _facilitates_besides(connection, report.group_id, subject):
            continue
        # The session is re-checked as for any facilitator broadcast: an ended one hears nothing.
        if await hub.current_facilitator(connection) is not None:
            await hub.sio.emit(event, view, to=connection.sid)


def _facilitates_besides(connection: Connection, group_id: bytes, subject: int) -> bool:
    session = connection.facilitator
    return (
        session is not None
        and session.facilitator_id != subject
        and group_id in connection.facilitating
    )
