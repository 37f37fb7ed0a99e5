"""Companion groups: a group's facilitators' hand-over notes and a member's private request to
its facilitators (docs/protocol.md §6.10).

A companion is a group of its own, keyed and rotated by the same verified commits, whose roster
is the group's facilitators ("notes") or one member of the group and its facilitators ("ask").
Each member of a companion takes part with the member keys it holds in the group, so every
client checks the companion's verified roster against the group's verified state: nobody but
the group's facilitators (and, in a request, the asking member) can be keyed into one, whatever
the server says. The server routes its messages by membership like any group's, so a member of
the group never receives the facilitators' notes or another member's request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crypto.authorisations import Admission, admission_message, parse_authorisation
from crypto.encoding import b64encode
from crypto.errors import VerificationFailed
from crypto.keys import verify_signature
from crypto.roster import RosterEntry
from crypto.suite import AUTH_ADMIT, ROLE_FACILITATOR, SUITE
from server.errors import Code, HearthError
from server.realtime import companion_schemas as schemas
from server.realtime.admissions import check_admission_epoch
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.views import group_view
from server.realtime.wire import decode_b64, signed_commit
from server.storage.companions import Companion
from server.storage.groups import GroupSettings
from server.storage.rows import MemberRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub

NAME_PREFIX = {"notes": "Facilitators' notes: ", "ask": "Private request: "}


def companion_view(companion: Companion) -> dict[str, Any]:
    """Content-free: what a companion is for and, for a request, who handles it."""
    return {
        "companion_id": b64encode(companion.companion_id),
        "group_id": b64encode(companion.group_id),
        "kind": companion.kind,
        "asker_id": None if companion.asker_id is None else b64encode(companion.asker_id),
        "claimed_by": companion.claimed_by,
        "closed": companion.closed_at is not None,
        "created_at": companion.created_at,
    }


async def companions_changed(hub: Hub, group_id: bytes) -> None:
    """Tell the group's facilitators to list its companions again (no content)."""
    await hub.emit_to_facilitators(
        group_id, "companions.changed", {"group_id": b64encode(group_id)}
    )


async def _companion(hub: Hub, value: str) -> Companion:
    companion = await hub.companions.get(decode_b64(value, "companion_id", 16))
    if companion is None:
        raise HearthError(Code.NOT_FOUND, "no such companion group")
    return companion


def _entry(member: MemberRow) -> RosterEntry:
    return RosterEntry(member.member_id, member.sig_pk, member.kem_pk)


@event("companion.create", schemas.CompanionCreate)
async def create_companion(
    hub: Hub, connection: Connection, payload: schemas.CompanionCreate
) -> Reply:
    """Epoch 1 of a companion holds its creator alone, with the member keys it has in the group;
    the creator then admits the group's facilitators (``companion.admit``) and rotates."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    companion_id = decode_b64(payload.companion_id, "companion_id", 16)
    if await hub.companions.get(group_id) is not None:
        raise HearthError(Code.BAD_REQUEST, "a companion group has no companions of its own")
    creator = await hub.member_for(connection, group_id)
    if not creator.keyed or creator.state != "active":
        raise HearthError(Code.NOT_MEMBER, "you are not yet keyed into this group")
    if payload.kind == "notes":
        await hub.require_facilitator(connection, group_id)
    elif creator.facilitator_id is not None:
        raise HearthError(
            Code.FORBIDDEN, "a facilitator reads the group's requests; only a member asks"
        )
    commit = signed_commit(decode_b64(payload.commit, "commit"))
    if (
        commit.suite != SUITE
        or commit.group_id != companion_id
        or commit.epoch != 1
        or commit.prev_commit_hash != bytes(32)
        or commit.committer_id != creator.member_id
        or commit.roster != (_entry(creator),)
        or commit.facilitators != (creator.member_id,)
        or commit.authorisations
    ):
        raise HearthError(
            Code.INVALID_COMMIT,
            "a companion's commit must be epoch 1 of suite 1 for its id, sealed to your member "
            "of the group alone, with your keys there",
        )
    group = (await hub.group_state(group_id)).group
    settings = GroupSettings(
        name=(NAME_PREFIX[payload.kind] + group.name)[:80],
        rules="",
        retention_days=group.retention_days,
        join_policy="approval",
        posting_policy="always",
        slow_mode_seconds=0,
        newcomer_hold=0,
        schedule="",
    )
    now = hub.clock()
    companion = Companion(
        companion_id,
        group_id,
        payload.kind,
        None if payload.kind == "notes" else creator.member_id,
        None,
        None,
        now,
    )
    row = await hub.companions.create(
        companion=companion,
        settings=settings,
        creator=creator,
        commit_blob=commit.raw,
        commit_hash=commit.hash,
    )
    await hub.changed({"t": "keyed", "g": companion_id.hex(), "a": [connection.account_pk.hex()]})
    if creator.facilitator_id is not None:
        await hub.changed(
            {"t": "facilitator", "g": companion_id.hex(), "f": creator.facilitator_id}
        )
    else:
        await hub.emit_to_facilitators(
            group_id,
            "ask.opened",
            {"group_id": payload.group_id, "companion_id": payload.companion_id},
        )
    await companions_changed(hub, group_id)
    return {"group": group_view(row), "companion": companion_view(companion)}


@event("companion.admit", schemas.CompanionAdmit)
async def admit_to_companion(
    hub: Hub, connection: Connection, payload: schemas.CompanionAdmit
) -> Reply:
    """Bring a facilitator of the group into its companion: its member of the group (same
    keys), admitted with the facilitator role by the caller's signature, keyed by the next
    commit. Only the group's facilitators can be admitted, only by a facilitator of the group
    or by the member who asked."""
    companion = await _companion(hub, payload.companion_id)
    if companion.closed_at is not None:
        raise HearthError(Code.FORBIDDEN, "this request is closed")
    admitter = await hub.member_for(connection, companion.companion_id)
    if not admitter.keyed:
        raise HearthError(Code.NOT_MEMBER, "you are not yet keyed into this companion group")
    if companion.asker_id != admitter.member_id:
        await hub.require_facilitator(connection, companion.group_id)
    member_id = decode_b64(payload.member_id, "member_id", 16)
    target = (await hub.group_state(companion.group_id)).members.get(member_id)
    if target is None or target.facilitator_id is None or target.state != "active":
        raise HearthError(
            Code.FORBIDDEN, "only an admitted facilitator of the group can be brought in"
        )
    blob = decode_b64(payload.admission, "admission")
    try:
        admission = parse_authorisation(blob)
    except ValueError as exc:
        raise HearthError(Code.INVALID_AUTHORISATION, f"admission is malformed: {exc}") from None
    if (
        not isinstance(admission, Admission)
        or admission.role != ROLE_FACILITATOR
        or admission.entry != _entry(target)
        or admission.admitter_id != admitter.member_id
    ):
        raise HearthError(
            Code.INVALID_AUTHORISATION,
            "the admission must be yours, with the facilitator role, of this facilitator's keys",
        )
    message = admission_message(
        AUTH_ADMIT, companion.companion_id, admission.epoch, ROLE_FACILITATOR, _entry(target)
    )
    try:
        verify_signature(admitter.sig_pk, admission.signature, message)
    except VerificationFailed:
        raise HearthError(
            Code.INVALID_AUTHORISATION, "admission: the signature does not verify"
        ) from None
    # valid only in the companion's next commits, like any admission (§6.4)
    now = (await hub.group_state(companion.companion_id)).group.current_epoch
    check_admission_epoch(admission.epoch, now)
    if not await hub.companions.add_facilitator(companion.companion_id, target, hub.clock()):
        raise HearthError(Code.ALREADY_MEMBER, "this facilitator is or was in it already")
    await hub.authorisations.record(companion.companion_id, member_id, "admission", blob)
    assert target.facilitator_id is not None
    await hub.changed({"t": "reload", "g": companion.companion_id.hex()})
    await hub.changed(
        {"t": "facilitator", "g": companion.companion_id.hex(), "f": target.facilitator_id}
    )
    await hub.announce_rotation(companion.companion_id, "membership")
    await companions_changed(hub, companion.group_id)
    return {}


@event("companions.list", schemas.GroupRef)
async def list_companions(hub: Hub, connection: Connection, payload: schemas.GroupRef) -> Reply:
    """A group's notes companion and members' requests, with who handles each: to the group's
    facilitators only."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await hub.require_facilitator(connection, group_id)
    state = await hub.group_state(group_id)
    listed = []
    for companion in await hub.companions.of_group(group_id):
        view = companion_view(companion)
        asker = None if companion.asker_id is None else state.members.get(companion.asker_id)
        view["asker"] = None if asker is None else asker.pseudonym
        listed.append(view)
    return {"companions": listed}


async def _request(hub: Hub, connection: Connection, value: str) -> tuple[Companion, int]:
    companion = await _companion(hub, value)
    if companion.kind != "ask":
        raise HearthError(Code.NOT_FOUND, "no such request")
    return companion, await hub.require_facilitator(connection, companion.group_id)


@event("ask.claim", schemas.AskClaim)
async def claim_request(hub: Hub, connection: Connection, payload: schemas.AskClaim) -> Reply:
    """Saying "I'll take this": the other facilitators see who answers, so that two do not. A
    facilitator may take over a request another claimed, and release their own."""
    companion, facilitator_id = await _request(hub, connection, payload.companion_id)
    if companion.closed_at is not None:
        raise HearthError(Code.FORBIDDEN, "this request is closed")
    assert connection.facilitator is not None
    if not payload.claim and companion.claimed_by != connection.facilitator.username:
        raise HearthError(Code.FORBIDDEN, "only the facilitator handling it can release it")
    await hub.companions.claim(companion.companion_id, facilitator_id if payload.claim else None)
    await companions_changed(hub, companion.group_id)
    found = await hub.companions.get(companion.companion_id)
    assert found is not None
    return {"companion": companion_view(found)}


@event("ask.close", schemas.CompanionRef)
async def close_request(hub: Hub, connection: Connection, payload: schemas.CompanionRef) -> Reply:
    """The request is answered (a facilitator of the group, or the member who asked): it leaves
    the open requests; its conversation stays for the group's retention."""
    companion = await _companion(hub, payload.companion_id)
    if companion.kind != "ask":
        raise HearthError(Code.NOT_FOUND, "no such request")
    asker = (await hub.group_state(companion.companion_id)).member_of_account(connection.account_pk)
    if asker is None or asker.member_id != companion.asker_id:
        await hub.require_facilitator(connection, companion.group_id)
    if not await hub.companions.close(companion.companion_id, hub.clock()):
        raise HearthError(Code.FORBIDDEN, "this request is closed")
    await companions_changed(hub, companion.group_id)
    return {}


async def end_companion_memberships(hub: Hub, member: MemberRow) -> None:
    """A member left or was removed from a group: its membership of each companion of that
    group ends too (a facilitator's removal thus rotates the notes as well as the group), and
    a request it opened closes."""
    for companion in await hub.companions.of_group(member.group_id):
        if companion.asker_id == member.member_id:
            await hub.companions.close(companion.companion_id, hub.clock())
        live = await hub.companions.live_member(companion.companion_id, member.member_id)
        if live is None:
            continue
        removed = await hub.groups.change_state(
            companion.companion_id,
            member.member_id,
            allowed_from=("pending", "active"),
            to="removed",
        )
        if removed is not None:
            await hub.end_membership(removed, "removed")
        await companions_changed(hub, member.group_id)
