"""Events for epoch commits: the server checks and orders them; it never sees a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto.commits import EpochCommit, parse_commit
from crypto.encoding import b64encode
from crypto.groupstate import GroupState, UntrustedCommit, advance
from crypto.keys import check_pq_key
from crypto.roster import RosterEntry
from server.errors import Code, HearthError
from server.realtime import schemas
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.suites import check_commit_suite, group_suite, hybrid_capacity
from server.realtime.wire import (
    account_room,
    decode_b64,
    facilitator_room,
    group_room,
    signed_commit,
)
from server.storage.rows import CommitRow, MemberRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub


@event("epoch.commit", schemas.EpochCommitIn)
async def commit_epoch(hub: Hub, connection: Connection, payload: schemas.EpochCommitIn) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    raw = decode_b64(payload.commit, "commit")
    commit = signed_commit(raw)
    if commit.group_id != group_id:
        raise HearthError(Code.INVALID_COMMIT, "the commit is for another group")
    state = await hub.group_state(group_id)
    committer = state.members.get(commit.committer_id)
    if committer is None or committer.account_pk != connection.account_pk:
        raise HearthError(Code.FORBIDDEN, "you can only commit as your own member of this group")
    head = await hub.groups.commits_from(group_id, state.group.current_epoch)
    capacity = hybrid_capacity(hub.config.server)
    check_commit_suite(commit, group_suite(head), state.active, capacity)
    active = {(m.member_id, m.sig_pk, m.kem_pk) for m in state.active}
    if {(e.member_id, e.sig_pk, e.kem_pk) for e in commit.roster} == active:
        # (a roster that is not the active members gets roster_mismatch from accept_commit)
        await _check_authorised(hub, group_id, commit, state.group.current_epoch)
    newly_keyed = await hub.groups.accept_commit(
        group_id=group_id,
        epoch=commit.epoch,
        prev_commit_hash=commit.prev_commit_hash,
        roster=frozenset((e.member_id, e.sig_pk, e.kem_pk) for e in commit.roster),
        committer_id=commit.committer_id,
        commit_blob=raw,
        commit_hash=commit.hash,
        now=hub.clock(),
    )
    keyed_accounts = [m.account_pk for m in state.members.values() if m.member_id in newly_keyed]
    await hub.changed(
        {"t": "keyed", "g": group_id.hex(), "a": [account.hex() for account in keyed_accounts]}
    )
    announcement = {"group_id": payload.group_id, "epoch": commit.epoch, "commit": payload.commit}
    await hub.sio.emit("epoch.new", announcement, room=group_room(group_id))
    # A newly keyed member also gets it on its account's sockets: its page may not have joined
    # the room yet, or may still be taking in its join reply (a client ignores an epoch it holds,
    # so a second copy is harmless; docs/protocol.md §14.3).
    for account in keyed_accounts:
        await hub.sio.emit("epoch.new", announcement, room=account_room(account))
    return {"epoch": commit.epoch}


async def _check_authorised(hub: Hub, group_id: bytes, commit: EpochCommit, current: int) -> None:
    """Refuse a next commit whose roster change is not exactly its signed authorisations.

    Every client checks this itself (§6.5); the server checking too keeps a broken or hostile
    member from stalling the group with a commit honest clients would refuse. A commit for
    another epoch or chain is left to ``accept_commit``, which answers with its own codes.
    """
    stored = await hub.groups.commits_from(group_id, current)
    if not stored:
        return
    held = parse_commit(stored[0].commit_blob)
    if commit.epoch != held.epoch + 1 or commit.prev_commit_hash != held.hash:
        return
    # The server does not keep the chain's departed set; member_ids are never reused in a
    # group, and clients, which hold it, refuse a re-admission.
    state = GroupState(
        group_id,
        held.epoch,
        held.hash,
        held.roster,
        frozenset(held.facilitators),
        frozenset(),
        held.suite,
        tuple((member_id, key.public) for member_id, key in held.pq_map().items()),
    )
    try:
        advance(state, commit)
    except UntrustedCommit as exc:
        raise HearthError(Code.UNAUTHORISED_CHANGE, f"the commit is refused: {exc}") from None


@event("member.pq_key", schemas.PqKeyIn)
async def add_pq_key(hub: Hub, connection: Connection, payload: schemas.PqKeyIn) -> Reply:
    """A member whose membership began on a client of suite 1 only sends its ML-KEM key from a
    client that supports the hybrid suite (§6.9): once every member has one, the group's next
    commit is of suite 2. Sending the same key again is harmless; another one is refused."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    member = await hub.member_for(connection, group_id)
    pq_key = decode_b64(payload.pq_key, "pq_key", 1248)
    if member.pq_key is not None:
        if member.pq_key == pq_key:
            return {}
        raise HearthError(Code.FORBIDDEN, "this member's ML-KEM key is set and cannot change")
    try:
        check_pq_key(group_id, RosterEntry(member.member_id, member.sig_pk, member.kem_pk), pq_key)
    except ValueError as exc:
        raise HearthError(Code.BAD_REQUEST, f"pq_key is refused: {exc}") from None
    if not await hub.groups.set_pq_key(group_id, member.member_id, pq_key):
        raise HearthError(Code.FORBIDDEN, "this member's ML-KEM key is set and cannot change")
    await hub.changed({"t": "reload", "g": group_id.hex()})
    return {}


@event("epoch.list", schemas.EpochList)
async def list_epochs(hub: Hub, connection: Connection, payload: schemas.EpochList) -> Reply:
    """The commits a member may open: from the first epoch that included them on."""
    group_id = decode_b64(payload.group_id, "group_id", 16)
    member = await hub.member_for(connection, group_id)
    if payload.from_commit_hash is not None:
        commit_hash = decode_b64(payload.from_commit_hash, "from_commit_hash", 32)
        commits = await _from_anchor(hub, group_id, member, commit_hash)
        return {
            "commits": [{"epoch": c.epoch, "commit": b64encode(c.commit_blob)} for c in commits]
        }
    if not member.keyed or member.first_epoch is None:
        return {"commits": []}
    start = max(member.first_epoch, payload.from_epoch or 1)
    commits = await hub.groups.commits_from(group_id, start)
    return {"commits": [{"epoch": c.epoch, "commit": b64encode(c.commit_blob)} for c in commits]}


async def _from_anchor(
    hub: Hub, group_id: bytes, member: MemberRow, commit_hash: bytes
) -> list[CommitRow]:
    """The commits from an invite's anchor on, for a newcomer to verify its keying (§6.7).

    Any member (pending or keyed) may ask, but only back to an epoch that an invite it could
    have joined with can name: one current when an invite of the group that had not expired by
    the member's joining was made, or the one before it (a facilitator's client may not have
    seen a commit racing the invite's creation yet). Commits hold member_ids, public keys, wraps and
    signed authorisations, never a pseudonym or a secret (threat model: what a newcomer sees).
    """
    epoch = await hub.groups.commit_epoch(group_id, commit_hash)
    if epoch is not None:
        commits = await hub.groups.commits_from(group_id, epoch)
        # epoch + 2 made after the invite: epoch + 1 or epoch was current when it was made
        later = commits[2].created_at if len(commits) > 2 else None
        invites = await hub.groups.invites(group_id)
        if any(
            invite.expires_at >= member.joined_at and (later is None or later >= invite.created_at)
            for invite in invites
        ):
            return commits
    raise HearthError(Code.NOT_FOUND, "no invite of yours names that epoch of this group")


@event("epoch.flag", schemas.EpochFlag)
async def flag_epoch(hub: Hub, connection: Connection, payload: schemas.EpochFlag) -> Reply:
    """A member says its wrap in a verified commit did not open (§6.6).

    The server cannot check this (it has no key); it tells the group's facilitators which
    member committed that epoch, and keeps it in the audit log. Who flagged is not recorded.
    """
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await hub.limit(hub.limits.reports, connection)
    member = await hub.member_for(connection, group_id)
    state = await hub.group_state(group_id)
    if (
        not member.keyed
        or member.first_epoch is None
        or not member.first_epoch <= payload.epoch <= state.group.current_epoch
    ):
        raise HearthError(Code.NOT_FOUND, "you hold no such epoch of this group")
    if payload.epoch == state.group.current_epoch:
        # §6.6: the member flags once a later epoch keys it again (its own recovery or another's)
        raise HearthError(Code.WRONG_EPOCH, "commit a new epoch on top before flagging this one")
    stored = await hub.groups.commits_from(group_id, payload.epoch)
    flagged_commit = parse_commit(stored[0].commit_blob)
    committer = flagged_commit.committer_id
    if committer == member.member_id:
        raise HearthError(Code.FORBIDDEN, "you cannot flag your own commit")
    if flagged_commit.entry_of(member.member_id) is None:
        raise HearthError(Code.NOT_FOUND, "you hold no wrap in that epoch")
    if await hub.audit.flagged(group_id, payload.epoch):
        return {}  # the facilitators were told already: once per epoch, however many flag it
    flagged = {
        "group_id": payload.group_id,
        "epoch": payload.epoch,
        "committer_id": b64encode(committer),
    }
    await hub.audit.record(
        at=hub.clock(),
        actor="a member",
        action="flag_commit",
        group_id=group_id,
        subject=b64encode(committer),
        detail={"epoch": payload.epoch, "member_id": b64encode(committer)},
    )
    await hub.sio.emit("commit.flagged", flagged, room=facilitator_room(group_id))
    return {}
