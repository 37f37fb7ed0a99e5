"""Events for groups, invites and membership."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from crypto.encoding import b64encode
from crypto.keys import check_kem_public_key, check_pq_key
from crypto.roster import RosterEntry
from crypto.suite import ROLE_FACILITATOR, ROLE_MEMBER, SUITE, SUITE_HYBRID
from server import schedule
from server.errors import Code, HearthError
from server.pseudonyms import normalise_pseudonym, skeleton
from server.realtime import schemas
from server.realtime.admissions import (
    INVITE_KEY_LEN,
    checked_admission,
    checked_departure,
    checked_invite_key,
    invite_admits,
)
from server.realtime.cofacilitation import (
    check_departure,
    end_facilitation,
    facilitators_changed,
)
from server.realtime.companions import companion_view
from server.realtime.events import Reply, event
from server.realtime.posting import posting_open
from server.realtime.state import Connection
from server.realtime.suites import group_suite, hybrid_capacity
from server.realtime.views import group_view, invite_view, member_view, mute_view
from server.realtime.wire import (
    account_room,
    decode_b64,
    group_room,
    signed_commit,
)
from server.storage.groups import GroupSettings, NewMember

if TYPE_CHECKING:
    from server.realtime.hub import Hub

HOUR_MS = 3_600_000


def _hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def new_member(
    connection: Connection,
    keys: schemas.MemberKeysIn,
    group_id: bytes | None,
    *,
    facilitator: bool = False,
) -> NewMember:
    """The member a join or a group's creation adds; its ML-KEM key, if it sent one, checked
    against ``group_id`` (None: the invite names no open group, which ``join`` refuses)."""
    member_id = decode_b64(keys.member_id, "member_id", 16)
    sig_pk = decode_b64(keys.sig_pk, "sig_pk", 32)
    kem_pk = decode_b64(keys.kem_pk, "kem_pk", 32)
    try:
        check_kem_public_key(kem_pk)
    except ValueError:
        raise HearthError(Code.BAD_REQUEST, "kem_pk is not a usable X25519 public key") from None
    pq_key = None
    if keys.pq_key is not None and group_id is not None:
        pq_key = decode_b64(keys.pq_key, "pq_key", 1248)
        try:
            check_pq_key(group_id, RosterEntry(member_id, sig_pk, kem_pk), pq_key)
        except ValueError as exc:
            raise HearthError(Code.BAD_REQUEST, f"pq_key is refused: {exc}") from None
    pseudonym = normalise_pseudonym(keys.pseudonym, may_name_role=facilitator)
    return NewMember(
        member_id, connection.account_pk, sig_pk, kem_pk, pseudonym, skeleton(pseudonym), pq_key
    )


def _slow_mode(hub: Hub, seconds: int) -> int:
    """A group's slow mode within this server's maximum (groups.max_slow_mode_seconds)."""
    limit = hub.config.groups.max_slow_mode_seconds
    if seconds > limit:
        raise HearthError(
            Code.BAD_REQUEST,
            f"slow_mode_seconds may be at most {limit} on this server (0 turns it off)",
        )
    return seconds


def _schedule(slots: list[schemas.SessionIn] | None, current: str = "") -> str:
    """A group's checked schedule in its stored form; ``current`` when none was given."""
    if slots is None:
        return current
    return schedule.encode(
        schedule.checked_schedule({"day": s.day, "start": s.start, "end": s.end} for s in slots)
    )


@event("groups.list", schemas.Empty)
async def list_groups(hub: Hub, connection: Connection, _: schemas.Empty) -> Reply:
    memberships = {
        m.group_id: m for m in await hub.groups.memberships_of_account(connection.account_pk)
    }
    managed: set[bytes] = set()
    invitations = []
    facilitator = await hub.current_facilitator(connection)
    if facilitator is not None:
        managed = {
            g.group_id for g in await hub.groups.groups_of_facilitator(facilitator.facilitator_id)
        }
        invitations = await hub.cofacilitators.invitations_of(facilitator.facilitator_id)
    listed = []
    # a companion (facilitators' notes, a private request; §6.10) says whose it is
    companions = await hub.companions.of_groups(sorted(memberships.keys() | managed))
    for group_id in sorted(memberships.keys() | managed):
        state = await hub.group_state(group_id)
        member = memberships.get(group_id)
        listed.append(
            {
                **group_view(state.group),
                "me": None if member is None else member_view(member),
                "mute": None if member is None else mute_view(member, hub.clock()),
                # Newcomer hold: this member's messages wait for a facilitator for now.
                "held_back": member is not None and member.held_back_in(state.group),
                "facilitator": group_id in managed,
                "rotation_needed": state.rotation_needed,
                "posting_open": posting_open(hub, state.group),
                "companion": (
                    companion_view(companions[group_id]) if group_id in companions else None
                ),
            }
        )
    return {
        "groups": listed,
        "facilitator": None if facilitator is None else facilitator.username,
        # groups this facilitator is invited to facilitate (facilitator.accept; §6.8)
        "invitations": [group_view(g) for g in invitations],
    }


@event("group.create", schemas.GroupCreate)
async def create_group(hub: Hub, connection: Connection, payload: schemas.GroupCreate) -> Reply:
    facilitator = await hub.require_session(connection)
    group_id = decode_b64(payload.group_id, "group_id", 16)
    creator = new_member(connection, payload.member, group_id, facilitator=True)  # role is real
    raw_commit = decode_b64(payload.commit, "commit")
    commit = signed_commit(raw_commit)
    own_pq = commit.pq_key_of(creator.member_id)
    if commit.suite == SUITE and creator.pq_key is not None:
        raise HearthError(
            Code.SUITE_DOWNGRADE,
            "the creator's client supports the hybrid suite: a new group's commit must be of "
            "suite 2",
        )
    if commit.suite == SUITE_HYBRID and (own_pq is None or own_pq.encode() != creator.pq_key):
        raise HearthError(
            Code.INVALID_COMMIT, "the commit's ML-KEM key is not the one the creator sent"
        )
    expected = (RosterEntry(creator.member_id, creator.sig_pk, creator.kem_pk),)
    if (
        commit.group_id != group_id
        or commit.epoch != 1
        or commit.prev_commit_hash != bytes(32)
        or commit.committer_id != creator.member_id
        or commit.roster != expected
        or commit.facilitators != (creator.member_id,)
        or commit.authorisations
    ):
        raise HearthError(
            Code.INVALID_COMMIT,
            "a new group's commit must be epoch 1 of this group, sealed to its creator only, "
            "who is its facilitator",
        )
    settings = GroupSettings(
        name=payload.name.strip(),
        rules=payload.rules,
        retention_days=payload.retention_days or hub.config.groups.default_retention_days,
        join_policy=payload.join_policy,
        posting_policy=payload.posting_policy,
        slow_mode_seconds=_slow_mode(hub, payload.slow_mode_seconds),
        newcomer_hold=payload.newcomer_hold,
        schedule=_schedule(payload.schedule),
    )
    facilitator_id = facilitator.facilitator_id
    group = await hub.groups.create_group(
        group_id=group_id,
        settings=settings,
        facilitator_id=facilitator_id,
        creator=creator,
        commit_blob=raw_commit,
        commit_hash=commit.hash,
        now=hub.clock(),
    )
    await hub.changed({"t": "keyed", "g": group_id.hex(), "a": [connection.account_pk.hex()]})
    await hub.changed({"t": "facilitator", "g": group_id.hex(), "f": facilitator_id})
    return {"group": group_view(group)}


@event("group.update", schemas.GroupUpdate)
async def update_group(hub: Hub, connection: Connection, payload: schemas.GroupUpdate) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await hub.require_facilitator(connection, group_id)
    group = (await hub.group_state(group_id)).group
    settings = GroupSettings(
        name=group.name if payload.name is None else payload.name.strip(),
        rules=group.rules if payload.rules is None else payload.rules,
        retention_days=payload.retention_days or group.retention_days,
        join_policy=payload.join_policy or group.join_policy,
        posting_policy=payload.posting_policy or group.posting_policy,
        slow_mode_seconds=(
            group.slow_mode_seconds
            if payload.slow_mode_seconds is None
            else _slow_mode(hub, payload.slow_mode_seconds)
        ),
        newcomer_hold=(
            group.newcomer_hold if payload.newcomer_hold is None else payload.newcomer_hold
        ),
        schedule=_schedule(payload.schedule, group.schedule),
    )
    await hub.groups.update_group(group_id, settings, hub.clock())
    await hub.companions.follow_retention(group_id, settings.retention_days)  # §6.10
    await hub.changed({"t": "reload", "g": group_id.hex()})
    state = await hub.group_state(group_id)
    view = group_view(state.group)
    # Members' composers say at once that slow mode (or anything else shown) changed.
    await hub.sio.emit("group.updated", {"group": view}, room=group_room(group_id))
    return {"group": view}


@event("invite.create", schemas.InviteCreate)
async def create_invite(hub: Hub, connection: Connection, payload: schemas.InviteCreate) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    facilitator_id = await hub.require_facilitator(connection, group_id)
    invite_key = None
    if payload.invite_key is not None:
        members = (await hub.group_state(group_id)).members.values()
        invite_key = checked_invite_key(payload.invite_key, group_id, members, hub.clock())
    token = secrets.token_urlsafe(24)  # 192 bits
    now = hub.clock()
    hours = payload.expires_in_hours or hub.config.groups.invite_default_hours
    invite = await hub.groups.create_invite(
        token_hash=_hash_token(token),
        group_id=group_id,
        facilitator_id=facilitator_id,
        now=now,
        expires_at=now + hours * HOUR_MS,
        max_uses=payload.max_uses or hub.config.groups.invite_max_uses,
    )
    if invite_key is not None:
        await hub.authorisations.set_invite_key(_hash_token(token), invite_key)
    return {"token": token, "invite": invite_view(invite)}


@event("invite.list", schemas.GroupRef)
async def list_invites(hub: Hub, connection: Connection, payload: schemas.GroupRef) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await hub.require_facilitator(connection, group_id)
    return {"invites": [invite_view(i) for i in await hub.groups.invites(group_id)]}


@event("invite.revoke", schemas.InviteRevoke)
async def revoke_invite(hub: Hub, connection: Connection, payload: schemas.InviteRevoke) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await hub.require_facilitator(connection, group_id)
    if not await hub.groups.revoke_invite(group_id, payload.invite_id):
        raise HearthError(Code.NOT_FOUND, "no such open invite in this group")
    return {}


@event("invite.preview", schemas.InvitePreview)
async def preview_invite(hub: Hub, connection: Connection, payload: schemas.InvitePreview) -> Reply:
    token_hash, now = _hash_token(payload.token), hub.clock()
    group = await hub.groups.invite_group(token_hash, now)
    if group is None:
        raise await hub.groups.invite_refusal(token_hash, now)
    invite_key = await hub.authorisations.invite_key(token_hash)
    if invite_key is not None and len(invite_key) != INVITE_KEY_LEN:
        invite_key = None  # the first layout's, which binds no bounds: joins without (§6.4)
    return {
        "group": group_view(group),
        "invite_key": None if invite_key is None else b64encode(invite_key),
    }


async def check_suite_support(hub: Hub, group_id: bytes, newcomer: NewMember) -> None:
    """§6.9: a group's suite never goes down, so a suite-2 group cannot key a client of suite 1
    only, nor grow past the members whose commit fits a frame (server.max_commit_bytes)."""
    head = await hub.groups.commits_from(
        group_id, (await hub.group_state(group_id)).group.current_epoch
    )
    if group_suite(head) != SUITE_HYBRID:
        return
    if newcomer.pq_key is None:
        raise HearthError(
            Code.HYBRID_REQUIRED,
            "this group is protected against future quantum computers; join it with a "
            "browser that supports ML-KEM-768 (a current Chromium or Chrome)",
        )
    capacity = hybrid_capacity(hub.config.server)
    live = [m for m in (await hub.group_state(group_id)).members.values()]
    if sum(m.state in ("pending", "active") for m in live) >= capacity:
        raise HearthError(
            Code.GROUP_FULL,
            f"this group is protected against future quantum computers and holds the {capacity} "
            "members whose keys fit this server's message size limit",
        )


@event("group.join", schemas.GroupJoin)
async def join_group(hub: Hub, connection: Connection, payload: schemas.GroupJoin) -> Reply:
    await hub.limit(hub.limits.joins, connection)
    invited = await hub.groups.invite_group(_hash_token(payload.token), hub.clock())
    newcomer = new_member(connection, payload.member, None if invited is None else invited.group_id)
    if invited is not None:
        await check_suite_support(hub, invited.group_id, newcomer)
    admission = None
    if payload.admission is not None:
        # An open group lets in whoever holds the invite link: the link's key signs the
        # admission every member checks (§6.4). Without one, a facilitator approves.
        invite_key = await hub.authorisations.invite_key(_hash_token(payload.token))
        group = await hub.groups.invite_group(_hash_token(payload.token), hub.clock())
        if invite_key is None or group is None:
            raise HearthError(
                Code.INVALID_AUTHORISATION, "this invite carries no key to admit anyone with"
            )
        entry = RosterEntry(newcomer.member_id, newcomer.sig_pk, newcomer.kem_pk)
        admission = invite_admits(
            payload.admission, group.group_id, entry, invite_key, group.current_epoch, hub.clock()
        )
    member = await hub.groups.join(
        token_hash=_hash_token(payload.token),
        member=newcomer,
        now=hub.clock(),
        max_members=hub.config.groups.max_members,
        admitted=admission is not None,
    )
    if admission is not None and member.state == "active":
        await hub.authorisations.record(member.group_id, member.member_id, "admission", admission)
    await hub.changed({"t": "reload", "g": member.group_id.hex()})
    state = await hub.group_state(member.group_id)
    if member.state == "pending":
        await hub.emit_to_facilitators(
            member.group_id,
            "join.requested",
            {"group_id": b64encode(member.group_id), "member": member_view(member)},
        )
    else:
        await hub.announce_rotation(member.group_id, "membership")
    return {"group": group_view(state.group), "me": member_view(member)}


@event("join.decide", schemas.JoinDecide)
async def decide_join(hub: Hub, connection: Connection, payload: schemas.JoinDecide) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    member_id = decode_b64(payload.member_id, "member_id", 16)
    await hub.require_facilitator(connection, group_id)
    admission = None
    if payload.approve:
        state = await hub.group_state(group_id)
        pending = state.members.get(member_id)
        if pending is None or pending.state != "pending":
            raise HearthError(Code.NOT_FOUND, "no pending join request from this member")
        if payload.admission is None:
            raise HearthError(
                Code.INVALID_AUTHORISATION,
                "approving needs the facilitator's signed admission of the member",
            )
        # An invited facilitator is admitted with the facilitator role, anyone else as a member:
        # the role every member verifies is the one the server gives power to (§6.8).
        role = ROLE_MEMBER if pending.facilitator_id is None else ROLE_FACILITATOR
        admission = checked_admission(
            payload.admission,
            group_id,
            pending,
            state.members.values(),
            role,
            state.group.current_epoch,
        )
    member = await hub.groups.change_state(
        group_id,
        member_id,
        allowed_from=("pending",),
        to="active" if payload.approve else "refused",
    )
    if member is None:
        raise HearthError(Code.NOT_FOUND, "no pending join request from this member")
    if admission is not None:
        await hub.authorisations.record(group_id, member_id, "admission", admission)
    if member.facilitator_id is not None:
        if payload.approve:
            await hub.changed({"t": "facilitator", "g": group_id.hex(), "f": member.facilitator_id})
            await facilitators_changed(hub, group_id)
        else:
            await end_facilitation(hub, group_id, member)
    assert connection.facilitator is not None  # require_facilitator checked it
    await hub.audit.record(
        at=hub.clock(),
        actor=connection.facilitator.username,
        action="approve_join" if payload.approve else "refuse_join",
        group_id=group_id,
        subject=payload.member_id,
        detail={},
    )
    await hub.changed({"t": "reload", "g": group_id.hex()})
    await hub.sio.emit(
        "membership",
        {"group_id": payload.group_id, "member_id": payload.member_id, "state": member.state},
        room=account_room(member.account_pk),
    )
    if payload.approve:
        await hub.announce_rotation(group_id, "membership")
    return {"member": member_view(member)}


@event("group.leave", schemas.GroupLeave)
async def leave_group(hub: Hub, connection: Connection, payload: schemas.GroupLeave) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    member = await hub.member_for(connection, group_id)
    leave = None
    if payload.leave is not None:
        members = (await hub.group_state(group_id)).members.values()
        leave = checked_departure(payload.leave, group_id, member, members)
    await check_departure(hub, group_id, member)
    left = await hub.groups.change_state(
        group_id, member.member_id, allowed_from=("pending", "active"), to="left"
    )
    if left is None:
        raise HearthError(Code.NOT_MEMBER, "you are not a member of this group")
    if leave is not None:
        await hub.authorisations.record(group_id, member.member_id, "departure", leave)
    await hub.end_membership(left, "left")
    return {}


@event("member.remove", schemas.MemberRemove)
async def remove_member(hub: Hub, connection: Connection, payload: schemas.MemberRemove) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    member_id = decode_b64(payload.member_id, "member_id", 16)
    await hub.require_facilitator(connection, group_id)
    assert connection.facilitator is not None  # require_facilitator checked it
    removal = None
    state = await hub.group_state(group_id)
    target = state.members.get(member_id)
    if target is not None and target.facilitator_id is not None and target.state == "active":
        # A facilitator's removal is another facilitator's signed act, which every member
        # checks (§6.8); never without it, never their own, never the last one.
        if target.account_pk == connection.account_pk:
            raise HearthError(Code.FORBIDDEN, "to step down, leave the group with your own leave")
        if payload.removal is None:
            raise HearthError(
                Code.INVALID_AUTHORISATION,
                "removing a facilitator needs your signed removal of their member",
            )
        await check_departure(hub, group_id, target)
    if payload.removal is not None:
        if target is None:
            raise HearthError(Code.NOT_FOUND, "no such member in this group")
        removal = checked_departure(payload.removal, group_id, target, state.members.values())
    removed = await hub.groups.change_state(
        group_id, member_id, allowed_from=("pending", "active"), to="removed"
    )
    if removed is None:
        raise HearthError(Code.NOT_FOUND, "no such member in this group")
    if removal is not None:
        await hub.authorisations.record(group_id, member_id, "departure", removal)
    await hub.end_membership(removed, "removed")
    await hub.audit.record(
        at=hub.clock(),
        actor=connection.facilitator.username,
        action="remove_member",
        group_id=group_id,
        subject=payload.member_id,
        detail={},
    )
    return {"member": member_view(removed)}


@event("members.list", schemas.GroupRef)
async def list_members(hub: Hub, connection: Connection, payload: schemas.GroupRef) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    state = await hub.group_state(group_id)
    me = state.member_of_account(connection.account_pk)
    is_facilitator = False
    facilitator = await hub.current_facilitator(connection)
    if facilitator is not None:
        is_facilitator = await hub.groups.is_group_facilitator(group_id, facilitator.facilitator_id)
    # Only a keyed member sees who else is there: until then it can only wait.
    if not is_facilitator and (me is None or not me.keyed):
        raise HearthError(Code.NOT_MEMBER, "you are not a member of this group")
    shown = [m for m in state.members.values() if m.state == "active" or is_facilitator]
    # A facilitator deciding on a join request sees if its invite was one a banned account used
    # (it names no one: only that the link reached someone banned since).
    flagged = await hub.groups.joined_with_banned_invite(group_id) if is_facilitator else set()
    # What the next committer needs to show each roster change is authorised (§6.4): the
    # admissions of active members not in the current roster, the departures of those gone.
    admissions = await hub.authorisations.of_group(group_id, "admission")
    departures = await hub.authorisations.of_group(group_id, "departure")
    active = {m.member_id for m in state.members.values() if m.state == "active"}
    return {
        "group": group_view(state.group),
        "members": [
            {**member_view(m), "invite_used_by_banned": True}
            if m.member_id in flagged
            else member_view(m)
            for m in shown
        ],
        "rotation_needed": state.rotation_needed,
        "hybrid_max_members": hybrid_capacity(hub.config.server),
        "admissions": [
            {"member_id": b64encode(m), "admission": b64encode(admissions[m])}
            for m in sorted(active - state.epoch_roster)
            if m in admissions
        ],
        "departures": [
            {"member_id": b64encode(m), "departure": b64encode(departures[m])}
            for m in sorted(state.epoch_roster - active)
            if m in departures
        ],
    }
