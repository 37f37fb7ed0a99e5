"""Events for a group's several facilitators: inviting one, their joining, who is on duty, and
taking a facilitator's power away (docs/protocol.md §6.8).

Power on the server and the role every member verifies move together. An account invited with
``facilitator.add`` gets nothing until it asks to join with member keys of its own
(``facilitator.accept``) and a facilitator of the group approves it with a signed admission
with the facilitator role (``join.decide``): only then do its sockets enter the group's
facilitator room. A facilitator leaves by their own signed leave, or is removed by another
facilitator's signed removal; either ends their power on every socket at once, and the group
rotates. The last facilitator cannot go without a replacement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crypto.encoding import b64encode
from server.errors import Code, HearthError
from server.realtime import schemas
from server.realtime.administration import require_manager
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.views import group_view, member_view
from server.realtime.wire import account_room, decode_b64
from server.storage.cofacilitators import GroupFacilitator
from server.storage.rows import MemberRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub

LAST_FACILITATOR = HearthError(
    Code.LAST_FACILITATOR,
    "a group must keep a facilitator: add another facilitator (and let them join) first",
)


def facilitator_view(facilitator: GroupFacilitator, on_duty: bool) -> dict[str, Any]:
    """Content-free: the account's username, how far it is in, its member of the group, and
    whether a socket of it is connected now. Shown to the group's facilitators only."""
    member = facilitator.member
    return {
        "username": facilitator.username,
        "state": facilitator.state,
        "member_id": None if member is None else b64encode(member.member_id),
        "pseudonym": None if member is None else member.pseudonym,
        "on_duty": on_duty,
    }


async def facilitators_changed(hub: Hub, group_id: bytes) -> None:
    """Tell the group's facilitators to list its facilitators again (no content)."""
    await hub.emit_to_facilitators(
        group_id, "facilitators.changed", {"group_id": b64encode(group_id)}
    )


async def check_departure(hub: Hub, group_id: bytes, member: MemberRow) -> None:
    """Refuse the departure of a group's last active facilitator (``last_facilitator``)."""
    if member.facilitator_id is None or member.state != "active":
        return
    others = [
        f
        for f in await hub.cofacilitators.of_group(group_id)
        if f.state == "active" and f.facilitator_id != member.facilitator_id
    ]
    if not others:
        raise LAST_FACILITATOR


async def end_facilitation(hub: Hub, group_id: bytes, member: MemberRow) -> None:
    """After a facilitator's member left, was removed (also by a moderation decision or a ban)
    or refused: the invitation ends and every socket of that account, on every process, loses
    its power over the group at once."""
    if member.facilitator_id is None:
        return
    await hub.cofacilitators.drop(group_id, member.facilitator_id)
    await hub.changed({"t": "unfacilitator", "g": group_id.hex(), "f": member.facilitator_id})
    await facilitators_changed(hub, group_id)


@event("facilitators.list", schemas.GroupRef)
async def list_facilitators(hub: Hub, connection: Connection, payload: schemas.GroupRef) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await require_manager(hub, connection, group_id)  # its facilitators, or an administrator
    on_duty = hub.on_duty(group_id)
    return {
        "facilitators": [
            facilitator_view(f, f.facilitator_id in on_duty)
            for f in await hub.cofacilitators.of_group(group_id)
        ]
    }


@event("facilitator.add", schemas.FacilitatorRef)
async def add_facilitator(
    hub: Hub, connection: Connection, payload: schemas.FacilitatorRef
) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await require_manager(hub, connection, group_id)  # its facilitators, or an administrator
    assert connection.facilitator is not None  # require_facilitator checked it
    account = await hub.facilitator_accounts.get_by_username(payload.username)
    if account is None or account.disabled:
        raise HearthError(Code.NOT_FOUND, "no facilitator account in use has this username")
    if not await hub.cofacilitators.invite(group_id, account.id):
        raise HearthError(
            Code.ALREADY_MEMBER, "this account already facilitates or is invited to this group"
        )
    await hub.audit.record(
        at=hub.clock(),
        actor=connection.facilitator.username,
        action="add_facilitator",
        group_id=group_id,
        subject=account.username,
        detail={},
    )
    await hub.changed({"t": "invited", "g": group_id.hex(), "f": account.id})
    await facilitators_changed(hub, group_id)
    invited = GroupFacilitator(account.id, account.username, "invited", None)
    return {"facilitator": facilitator_view(invited, False)}


@event("facilitator.remove", schemas.FacilitatorRef)
async def remove_facilitator(
    hub: Hub, connection: Connection, payload: schemas.FacilitatorRef
) -> Reply:
    """Withdraw an invitation, or refuse a facilitator who asked to join and is not admitted.
    An admitted facilitator is removed like any member (``member.remove``, with the signed
    removal every member checks)."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await require_manager(hub, connection, group_id)  # its facilitators, or an administrator
    assert connection.facilitator is not None
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
    if found.state == "active":
        raise HearthError(
            Code.INVALID_AUTHORISATION,
            "an admitted facilitator is removed with member.remove and your signed removal",
        )
    if found.member is not None:
        refused = await hub.groups.change_state(
            group_id, found.member.member_id, allowed_from=("pending",), to="refused"
        )
        if refused is not None:
            await hub.changed({"t": "reload", "g": group_id.hex()})
            await hub.sio.emit(
                "membership",
                {
                    "group_id": payload.group_id,
                    "member_id": b64encode(refused.member_id),
                    "state": "refused",
                },
                room=account_room(refused.account_pk),
            )
    await hub.cofacilitators.drop(group_id, found.facilitator_id)
    await hub.audit.record(
        at=hub.clock(),
        actor=connection.facilitator.username,
        action="withdraw_facilitator",
        group_id=group_id,
        subject=found.username,
        detail={},
    )
    await facilitators_changed(hub, group_id)
    return {}


@event("facilitator.accept", schemas.FacilitatorAccept)
async def accept_facilitation(
    hub: Hub, connection: Connection, payload: schemas.FacilitatorAccept
) -> Reply:
    """An invited facilitator asks to join with fresh member keys; a facilitator of the group
    admits it with the facilitator role (``join.decide``)."""
    # the handlers of groups import this module
    from server.realtime.groups import check_suite_support, new_member

    facilitator = await hub.require_session(connection)
    group_id = decode_b64(payload.group_id, "group_id", 16)
    newcomer = new_member(connection, payload.member, group_id, facilitator=True)
    invited = any(
        f.facilitator_id == facilitator.facilitator_id and f.state == "invited"
        for f in await hub.cofacilitators.of_group(group_id)
    )
    if invited:  # else join refuses it as it should (forbidden, already_member)
        await check_suite_support(hub, group_id, newcomer)
    member = await hub.cofacilitators.join(
        group_id=group_id,
        facilitator_id=facilitator.facilitator_id,
        member=newcomer,
        now=hub.clock(),
        max_members=hub.config.groups.max_members,
    )
    await hub.changed({"t": "reload", "g": group_id.hex()})
    state = await hub.group_state(group_id)
    await hub.emit_to_facilitators(
        group_id,
        "join.requested",
        {"group_id": payload.group_id, "member": member_view(member)},
    )
    await facilitators_changed(hub, group_id)
    return {"group": group_view(state.group), "me": member_view(member)}
