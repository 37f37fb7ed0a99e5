"""Administrators: facilitator accounts that invite and remove the facilitators of any group
(docs/protocol.md §6.11).

An administrator holds no member key in a group it does not facilitate, so it cannot sign an
admission or a removal, and members accept roster changes only when a facilitator of the previous
epoch signed them. So it acts through the facilitators' clients: it invites an account
(``facilitator.add``), which a facilitator of the group then admits with its signed admission; and
it removes an admitted facilitator with ``admin.remove_facilitator``, which ends that member's
place on the server at once (like any removal: delivery stops, its power over the group ends),
after which the group's next commit, made by a remaining facilitator's client, carries that
facilitator's own signed removal of the departed member (§6.4), which every member verifies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.encoding import b64encode
from server.errors import Code, HearthError
from server.realtime import schemas
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.views import group_view, member_view
from server.realtime.wire import decode_b64
from server.storage.administrators import AdministratorStore

if TYPE_CHECKING:
    from server.realtime.hub import Hub


def _store(hub: Hub) -> AdministratorStore:
    return AdministratorStore(hub.groups.database)


async def require_administrator(hub: Hub, connection: Connection) -> int:
    facilitator = await hub.require_session(connection)
    if not await _store(hub).is_administrator(facilitator.facilitator_id):
        raise HearthError(Code.FORBIDDEN, "this needs an administrator's account")
    return facilitator.facilitator_id


async def require_manager(hub: Hub, connection: Connection, group_id: bytes) -> int:
    """A facilitator of the group, or an administrator (of a group that is not a companion:
    those follow their groups, §6.10); else ``forbidden``."""
    facilitator = await hub.require_session(connection)
    if await hub.groups.is_group_facilitator(group_id, facilitator.facilitator_id):
        return facilitator.facilitator_id
    if await _store(hub).is_administrator(facilitator.facilitator_id):
        if await hub.groups.get_group(group_id) is None or await hub.companions.get(group_id):
            raise HearthError(Code.NOT_FOUND, "no such group")
        return facilitator.facilitator_id
    raise HearthError(Code.FORBIDDEN, "you are not a facilitator of this group")


@event("admin.groups", schemas.Empty)
async def list_all_groups(hub: Hub, connection: Connection, _: schemas.Empty) -> Reply:
    """Every group with its facilitators (content-free), to an administrator."""
    from server.realtime.cofacilitation import facilitator_view

    await require_administrator(hub, connection)
    listed = []
    for group in await _store(hub).groups():
        on_duty = hub.on_duty(group.group_id)
        facilitators = await hub.cofacilitators.of_group(group.group_id)
        listed.append(
            {
                **group_view(group),
                "facilitators": [
                    facilitator_view(f, f.facilitator_id in on_duty) for f in facilitators
                ],
            }
        )
    return {"groups": listed}


@event("admin.remove_facilitator", schemas.FacilitatorRef)
async def remove_as_administrator(
    hub: Hub, connection: Connection, payload: schemas.FacilitatorRef
) -> Reply:
    from server.realtime.cofacilitation import check_departure

    await require_administrator(hub, connection)
    assert connection.facilitator is not None
    group_id = decode_b64(payload.group_id, "group_id", 16)
    if await hub.groups.get_group(group_id) is None or await hub.companions.get(group_id):
        raise HearthError(Code.NOT_FOUND, "no such group")
    found = next(
        (
            f
            for f in await hub.cofacilitators.of_group(group_id)
            if f.username == payload.username.strip().lower()
        ),
        None,
    )
    if found is None:
        raise HearthError(Code.NOT_FOUND, "this account does not facilitate this group")
    if found.state != "active" or found.member is None:
        raise HearthError(
            Code.BAD_REQUEST,
            "this facilitator is not admitted yet: withdraw the invitation with facilitator.remove",
        )
    await check_departure(hub, group_id, found.member)
    removed = await hub.groups.change_state(
        group_id, found.member.member_id, allowed_from=("active",), to="removed"
    )
    if removed is None:
        raise HearthError(Code.NOT_FOUND, "this account does not facilitate this group")
    await hub.end_membership(removed, "removed")
    await hub.audit.record(
        at=hub.clock(),
        actor=connection.facilitator.username,
        action="remove_member",
        group_id=group_id,
        subject=b64encode(removed.member_id),
        detail={"by": "administrator", "facilitator": found.username},
    )
    return {"member": member_view(removed)}
