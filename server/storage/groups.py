"""SQL for groups, their facilitators, members, invites and epoch commits."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from server.errors import Code, HearthError
from server.storage.database import Database
from server.storage.departures import open_account, unlink_departed
from server.storage.rows import (
    LIVE_STATES,
    CommitRow,
    GroupRow,
    InviteRow,
    JoinPolicy,
    MemberRow,
    MemberState,
    PostingPolicy,
)

_GROUP_COLUMNS = (
    "group_id, name, rules, retention_days, join_policy, posting_policy, current_epoch, "
    "epoch_started_at, created_at, slow_mode_seconds, newcomer_hold, newcomer_hold_since, "
    "schedule"
)
_MEMBER_COLUMNS = (
    "group_id, member_id, account_pk, sig_pk, kem_pk, pseudonym, skeleton, state, "
    "facilitator_id, first_epoch, joined_at, muted_until, mute_rule, mute_note, hold_released, "
    "pq_key"
)
_INVITE_COLUMNS = (
    "token_hash, group_id, created_at, expires_at, max_uses, uses, revoked, banned_use"
)
# A facilitator of a group has power in it only as an active member of it, admitted with the
# facilitator role (docs/protocol.md §6.8): a ``group_facilitators`` row alone is an invitation.
ADMITTED = (
    "EXISTS (SELECT 1 FROM members m WHERE m.group_id = f.group_id "
    "AND m.facilitator_id = f.facilitator_id AND m.state = 'active')"
)


def _group(row: sqlite3.Row) -> GroupRow:
    return GroupRow(*tuple(row))


def _member(row: sqlite3.Row) -> MemberRow:
    return MemberRow(*tuple(row))


def invite_id_of(token_hash: bytes) -> str:
    """The short public handle of an invite: enough to list and revoke, useless to join."""
    return token_hash[:8].hex()


# Why an invite cannot be used, for the person holding the link (who may know it exists): what
# to do next differs (ask for a new link, or copy the whole link again).
_INVITE_STATE = "SELECT revoked, expires_at, uses, max_uses FROM invites WHERE token_hash = ?"
_INVITE_REFUSALS = {
    "unknown": "this invite link is not known here: it may be incomplete or mistyped",
    "revoked": "this invite link was withdrawn by the group's facilitator",
    "expired": "this invite link has expired",
    "used_up": "this invite link has been used as many times as it allows",
}


def _invite_refused(row: sqlite3.Row | None, now: int) -> HearthError:
    if row is None:
        reason = "unknown"
    elif row["revoked"]:
        reason = "revoked"
    elif row["expires_at"] <= now:
        reason = "expired"
    else:
        reason = "used_up"
    return HearthError(Code.INVITE_INVALID, _INVITE_REFUSALS[reason], reason=reason)


def _invite(row: sqlite3.Row) -> InviteRow:
    return InviteRow(
        invite_id=invite_id_of(row["token_hash"]),
        group_id=row["group_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        revoked=bool(row["revoked"]),
        banned_use=bool(row["banned_use"]),
    )


@dataclass(frozen=True, slots=True)
class NewMember:
    member_id: bytes
    account_pk: bytes
    sig_pk: bytes
    kem_pk: bytes
    pseudonym: str
    skeleton: str
    pq_key: bytes | None = None  # signed ML-KEM key (§6.9); None: a client of suite 1 only


@dataclass(frozen=True, slots=True)
class GroupSettings:
    name: str
    rules: str
    retention_days: int
    join_policy: JoinPolicy
    posting_policy: PostingPolicy
    slow_mode_seconds: int = 0
    newcomer_hold: int = 0
    schedule: str = ""  # server/schedule.py's stored form, already checked


async def _ensure_account(conn: aiosqlite.Connection, account_pk: bytes, now: int) -> None:
    await conn.execute(
        "INSERT INTO accounts (account_pk, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (account_pk, now),
    )


async def _live_members(conn: aiosqlite.Connection, group_id: bytes) -> list[MemberRow]:
    async with conn.execute(
        f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? "
        "AND state IN ('pending', 'active')",
        (group_id,),
    ) as cursor:
        return [_member(row) for row in await cursor.fetchall()]


async def _insert_member(
    conn: aiosqlite.Connection,
    group_id: bytes,
    member: NewMember,
    state: MemberState,
    *,
    now: int,
    facilitator_id: int | None = None,
    first_epoch: int | None = None,
    invite_hash: bytes | None = None,
) -> MemberRow:
    row = MemberRow(
        group_id,
        member.member_id,
        member.account_pk,
        member.sig_pk,
        member.kem_pk,
        member.pseudonym,
        member.skeleton,
        state,
        facilitator_id,
        first_epoch,
        now,
        None,
        pq_key=member.pq_key,
    )
    await conn.execute(
        f"INSERT INTO members ({_MEMBER_COLUMNS}, invite_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*(getattr(row, name.strip()) for name in _MEMBER_COLUMNS.split(",")), invite_hash),
    )
    return row


class GroupStore:
    def __init__(self, db: Database, *, departed_key: bytes) -> None:
        self._db = db
        self._departed_key = departed_key  # seals departed members' accounts (departures.py)

    @property
    def database(self) -> Database:
        return self._db

    # -- reads ---------------------------------------------------------------------------

    async def get_group(self, group_id: bytes) -> GroupRow | None:
        row = await self._db.fetch_one(
            f"SELECT {_GROUP_COLUMNS} FROM groups WHERE group_id = ?", (group_id,)
        )
        return None if row is None else _group(row)

    async def members(self, group_id: bytes, states: Sequence[MemberState]) -> list[MemberRow]:
        marks = ",".join("?" * len(states))
        rows = await self._db.fetch_all(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? AND state IN ({marks}) "
            "ORDER BY joined_at, member_id",
            (group_id, *states),
        )
        return [_member(row) for row in rows]

    async def member(self, group_id: bytes, member_id: bytes) -> MemberRow | None:
        """A member in any state, with the account as far as the server still knows it: a
        departed member's only while a message of theirs is kept (departures.py), else None."""
        row = await self._db.fetch_one(
            f"SELECT {_MEMBER_COLUMNS}, account_seal FROM members "
            "WHERE group_id = ? AND member_id = ?",
            (group_id, member_id),
        )
        if row is None:
            return None
        values = tuple(row)[:-1]
        if row["account_pk"] is not None:
            return MemberRow(*values)
        seal = row["account_seal"]
        account = (
            None if seal is None else open_account(self._departed_key, group_id, member_id, seal)
        )
        if account is None:
            return None
        return dataclasses.replace(MemberRow(*values), account_pk=account)

    async def memberships_of_account(self, account_pk: bytes) -> list[MemberRow]:
        rows = await self._db.fetch_all(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE account_pk = ? "
            "AND state IN ('pending', 'active') ORDER BY joined_at",
            (account_pk,),
        )
        return [_member(row) for row in rows]

    async def groups_of_facilitator(self, facilitator_id: int) -> list[GroupRow]:
        rows = await self._db.fetch_all(
            f"SELECT {', '.join('g.' + c.strip() for c in _GROUP_COLUMNS.split(','))} "
            "FROM groups g JOIN group_facilitators f ON f.group_id = g.group_id "
            f"WHERE f.facilitator_id = ? AND {ADMITTED} ORDER BY g.created_at",
            (facilitator_id,),
        )
        return [_group(row) for row in rows]

    async def is_group_facilitator(self, group_id: bytes, facilitator_id: int) -> bool:
        row = await self._db.fetch_one(
            f"SELECT 1 FROM group_facilitators f WHERE f.group_id = ? AND f.facilitator_id = ? "
            f"AND {ADMITTED}",
            (group_id, facilitator_id),
        )
        return row is not None

    async def facilitator_ids(self, group_id: bytes) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT facilitator_id FROM group_facilitators WHERE group_id = ?", (group_id,)
        )
        return [int(row[0]) for row in rows]

    async def commits_from(self, group_id: bytes, from_epoch: int) -> list[CommitRow]:
        rows = await self._db.fetch_all(
            "SELECT group_id, epoch, commit_blob, commit_hash, created_at FROM epochs "
            "WHERE group_id = ? AND epoch >= ? ORDER BY epoch",
            (group_id, from_epoch),
        )
        return [CommitRow(*tuple(row)) for row in rows]

    async def commit_epoch(self, group_id: bytes, commit_hash: bytes) -> int | None:
        """The epoch of a group's stored commit with this hash, if any."""
        row = await self._db.fetch_one(
            "SELECT epoch FROM epochs WHERE group_id = ? AND commit_hash = ?",
            (group_id, commit_hash),
        )
        return None if row is None else int(row[0])

    async def invites(self, group_id: bytes) -> list[InviteRow]:
        rows = await self._db.fetch_all(
            f"SELECT {_INVITE_COLUMNS} FROM invites WHERE group_id = ? ORDER BY created_at",
            (group_id,),
        )
        return [_invite(row) for row in rows]

    async def invite_group(self, token_hash: bytes, now: int) -> GroupRow | None:
        """The group a usable invite leads to (None if unknown, revoked, expired or used up)."""
        row = await self._db.fetch_one(
            "SELECT group_id FROM invites WHERE token_hash = ? AND revoked = 0 "
            "AND expires_at > ? AND uses < max_uses",
            (token_hash, now),
        )
        return None if row is None else await self.get_group(row[0])

    async def invite_refusal(self, token_hash: bytes, now: int) -> HearthError:
        """Why an invite that ``invite_group`` did not lead anywhere cannot be used."""
        return _invite_refused(await self._db.fetch_one(_INVITE_STATE, (token_hash,)), now)

    async def joined_with_banned_invite(self, group_id: bytes) -> set[bytes]:
        """The pending members of a group whose invite an account since banned used too."""
        rows = await self._db.fetch_all(
            "SELECT m.member_id FROM members m JOIN invites i ON i.token_hash = m.invite_hash "
            "WHERE m.group_id = ? AND m.state = 'pending' AND i.banned_use = 1",
            (group_id,),
        )
        return {bytes(row[0]) for row in rows}

    async def is_banned(self, account_pk: bytes) -> bool:
        row = await self._db.fetch_one(
            "SELECT banned FROM accounts WHERE account_pk = ?", (account_pk,)
        )
        return row is not None and bool(row[0])

    # -- writes --------------------------------------------------------------------------

    async def create_group(
        self,
        *,
        group_id: bytes,
        settings: GroupSettings,
        facilitator_id: int,
        creator: NewMember,
        commit_blob: bytes,
        commit_hash: bytes,
        now: int,
    ) -> GroupRow:
        async def job(conn: aiosqlite.Connection) -> GroupRow:
            async with conn.execute("SELECT 1 FROM groups WHERE group_id = ?", (group_id,)) as c:
                if await c.fetchone() is not None:
                    raise HearthError(Code.BAD_REQUEST, "a group with this id exists already")
            await _ensure_account(conn, creator.account_pk, now)
            await conn.execute(
                f"INSERT INTO groups ({_GROUP_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
                (
                    group_id,
                    settings.name,
                    settings.rules,
                    settings.retention_days,
                    settings.join_policy,
                    settings.posting_policy,
                    now,
                    now,
                    settings.slow_mode_seconds,
                    settings.newcomer_hold,
                    now,
                    settings.schedule,
                ),
            )
            await conn.execute(
                "INSERT INTO group_facilitators (group_id, facilitator_id) VALUES (?, ?)",
                (group_id, facilitator_id),
            )
            await _insert_member(
                conn,
                group_id,
                creator,
                "active",
                facilitator_id=facilitator_id,
                first_epoch=1,
                now=now,
            )
            await conn.execute(
                "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
                "created_at) VALUES (?, 1, ?, ?, ?, ?)",
                (group_id, commit_blob, commit_hash, creator.member_id, now),
            )
            return GroupRow(
                group_id,
                settings.name,
                settings.rules,
                settings.retention_days,
                settings.join_policy,
                settings.posting_policy,
                1,
                now,
                now,
                settings.slow_mode_seconds,
                settings.newcomer_hold,
                now,
                settings.schedule,
            )

        return await self._db.write(job)

    async def update_group(self, group_id: bytes, settings: GroupSettings, now: int) -> None:
        """Change a group's settings. Turning the newcomer hold on (from 0) makes those who
        join from ``now`` on its newcomers; members already there are not held back."""

        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE groups SET name = ?, rules = ?, retention_days = ?, join_policy = ?, "
                "posting_policy = ?, slow_mode_seconds = ?, "
                "newcomer_hold_since = CASE WHEN newcomer_hold = 0 AND ? > 0 THEN ? "
                "ELSE newcomer_hold_since END, newcomer_hold = ?, schedule = ? WHERE group_id = ?",
                (
                    settings.name,
                    settings.rules,
                    settings.retention_days,
                    settings.join_policy,
                    settings.posting_policy,
                    settings.slow_mode_seconds,
                    settings.newcomer_hold,
                    now,
                    settings.newcomer_hold,
                    settings.schedule,
                    group_id,
                ),
            )

        await self._db.write(job)

    async def create_invite(
        self,
        *,
        token_hash: bytes,
        group_id: bytes,
        facilitator_id: int,
        now: int,
        expires_at: int,
        max_uses: int,
    ) -> InviteRow:
        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO invites (token_hash, group_id, created_by, created_at, expires_at, "
                "max_uses) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, group_id, facilitator_id, now, expires_at, max_uses),
            )

        await self._db.write(job)
        return InviteRow(invite_id_of(token_hash), group_id, now, expires_at, max_uses, 0, False)

    async def revoke_invite(self, group_id: bytes, invite_id: str) -> bool:
        async def job(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT token_hash FROM invites WHERE group_id = ? AND revoked = 0",
                (group_id,),
            ) as cursor:
                hashes = [row[0] for row in await cursor.fetchall()]
            matches = [h for h in hashes if invite_id_of(h) == invite_id]
            for token_hash in matches:
                await conn.execute(
                    "UPDATE invites SET revoked = 1 WHERE token_hash = ?", (token_hash,)
                )
            return bool(matches)

        return await self._db.write(job)

    async def join(
        self,
        *,
        token_hash: bytes,
        member: NewMember,
        now: int,
        max_members: int,
        admitted: bool = True,
    ) -> MemberRow:
        """Use an invite: the new member is pending, or active (not yet keyed) if the group is open
        and ``admitted`` (its invite admission verified, docs/protocol.md §6.4).

        All checks run inside the write transaction, so two joins racing for the last use of
        an invite or the last place in a group cannot both win.
        """

        async def job(conn: aiosqlite.Connection) -> MemberRow:
            async with conn.execute(
                "SELECT i.group_id, g.join_policy FROM invites i JOIN groups g "
                "ON g.group_id = i.group_id WHERE i.token_hash = ? AND i.revoked = 0 "
                "AND i.expires_at > ? AND i.uses < i.max_uses",
                (token_hash, now),
            ) as cursor:
                found = await cursor.fetchone()
            if found is None:
                async with conn.execute(_INVITE_STATE, (token_hash,)) as cursor:
                    raise _invite_refused(await cursor.fetchone(), now)
            group_id, join_policy = found[0], found[1]
            async with conn.execute(
                "SELECT banned FROM accounts WHERE account_pk = ?", (member.account_pk,)
            ) as cursor:
                account = await cursor.fetchone()
            if account is not None and account[0]:
                raise HearthError(Code.BANNED, "this account is banned from this server")
            live = await _live_members(conn, group_id)
            if any(m.account_pk == member.account_pk for m in live):
                raise HearthError(Code.ALREADY_MEMBER, "you are already in this group")
            # A member_id is the group's name for one person for ever: given again, it would
            # inherit the old messages' authorship (and their deletion and reports).
            await _check_newcomer(conn, group_id, member, live, max_members)
            state: MemberState = "active" if join_policy == "open" and admitted else "pending"
            await _ensure_account(conn, member.account_pk, now)
            await conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE token_hash = ?", (token_hash,)
            )
            # A member who left and comes back is a fresh member (new keys, new member_id).
            return await _insert_member(
                conn, group_id, member, state, now=now, invite_hash=token_hash
            )

        return await self._db.write(job)

    async def change_state(
        self,
        group_id: bytes,
        member_id: bytes,
        *,
        allowed_from: Sequence[MemberState],
        to: MemberState,
    ) -> MemberRow | None:
        """Move a member between states; None if it was not in one of ``allowed_from``.

        Moving out of the live states ends the membership: the row stops naming the account in
        the same transaction (departures.py); the row returned still carries it, so that the
        caller can reach the account's devices one last time.
        """

        async def job(conn: aiosqlite.Connection) -> MemberRow | None:
            marks = ",".join("?" * len(allowed_from))
            async with conn.execute(
                f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? AND member_id = ? "
                f"AND state IN ({marks})",
                (group_id, member_id, *allowed_from),
            ) as c:
                row = await c.fetchone()
            if row is None:
                return None
            before = _member(row)
            if to in LIVE_STATES:
                await conn.execute(
                    "UPDATE members SET state = ? WHERE group_id = ? AND member_id = ?",
                    (to, group_id, member_id),
                )
            else:
                await conn.execute(
                    "UPDATE members SET state = ?, account_pk = NULL "
                    "WHERE group_id = ? AND member_id = ?",
                    (to, group_id, member_id),
                )
                await unlink_departed(
                    conn, group_id, member_id, before.account_pk, seal_key=self._departed_key
                )
            return dataclasses.replace(before, state=to)

        return await self._db.write(job)

    async def accept_commit(
        self,
        *,
        group_id: bytes,
        epoch: int,
        prev_commit_hash: bytes,
        roster: frozenset[tuple[bytes, bytes, bytes]],
        committer_id: bytes,
        commit_blob: bytes,
        commit_hash: bytes,
        now: int,
    ) -> list[bytes]:
        """Accept the commit for ``current + 1`` (first wins); returns newly keyed member ids.

        Epoch, chain and roster are checked inside the write transaction, so of two racing
        commits exactly one lands and a membership change cannot slip in between.
        """

        async def job(conn: aiosqlite.Connection) -> list[bytes]:
            async with conn.execute(
                "SELECT g.current_epoch, e.commit_hash FROM groups g JOIN epochs e "
                "ON e.group_id = g.group_id AND e.epoch = g.current_epoch WHERE g.group_id = ?",
                (group_id,),
            ) as cursor:
                found = await cursor.fetchone()
            if found is None:
                raise HearthError(Code.NOT_FOUND, "no such group")
            current, current_hash = int(found[0]), bytes(found[1])
            if epoch <= current:
                raise HearthError(
                    Code.EPOCH_CONFLICT,
                    f"epoch {epoch} already exists; fetch it and try again",
                    current_epoch=current,
                )
            if epoch != current + 1:
                raise HearthError(
                    Code.WRONG_EPOCH,
                    f"the next epoch is {current + 1}",
                    current_epoch=current,
                )
            if prev_commit_hash != current_hash:
                raise HearthError(
                    Code.INVALID_COMMIT, "prev_commit_hash does not match the current epoch"
                )
            active = [m for m in await _live_members(conn, group_id) if m.state == "active"]
            expected = frozenset((m.member_id, m.sig_pk, m.kem_pk) for m in active)
            if roster != expected:
                raise HearthError(
                    Code.ROSTER_MISMATCH,
                    "the roster must list exactly the group's current members",
                )
            committer = next((m for m in active if m.member_id == committer_id), None)
            if committer is None or committer.first_epoch is None:
                raise HearthError(
                    Code.FORBIDDEN, "only a member holding the current epoch may commit"
                )
            await conn.execute(
                "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (group_id, epoch, commit_blob, commit_hash, committer_id, now),
            )
            await conn.execute(
                "UPDATE groups SET current_epoch = ?, epoch_started_at = ? WHERE group_id = ?",
                (epoch, now, group_id),
            )
            newly = [m.member_id for m in active if m.first_epoch is None]
            if newly:
                # The members of the roster checked above, by id: on PostgreSQL a member made
                # active since (a join or an approval, which take no group lock) is not keyed
                # by this commit and must not be marked as if it were.
                marks = ",".join("?" * len(newly))
                await conn.execute(
                    "UPDATE members SET first_epoch = ? WHERE group_id = ? "
                    f"AND member_id IN ({marks}) AND first_epoch IS NULL",
                    (epoch, group_id, *newly),
                )
            return newly

        # Declared: reads and writes only this group's rows (docs/storage.md, "The same
        # guarantees on several nodes"); keep it so when changing the SQL above.
        return await self._db.write(job, groups=(group_id,))

    async def set_muted_until(
        self,
        group_id: bytes,
        member_id: bytes,
        until: int | None,
        *,
        rule: str | None = None,
        note: str | None = None,
    ) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE members SET muted_until = ?, mute_rule = ?, mute_note = ? "
                "WHERE group_id = ? AND member_id = ?",
                (until, rule, note, group_id, member_id),
            )

        await self._db.write(job)

    async def set_pq_key(self, group_id: bytes, member_id: bytes, pq_key: bytes) -> bool:
        """Give a live member its first ML-KEM key (docs/protocol.md §6.9); False if it had one
        already or is not a live member. A key once set never changes."""

        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "UPDATE members SET pq_key = ? WHERE group_id = ? AND member_id = ? "
                "AND pq_key IS NULL AND state IN ('pending', 'active')",
                (pq_key, group_id, member_id),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)


async def _remove_live_memberships(
    conn: aiosqlite.Connection, account_pk: bytes
) -> list[MemberRow]:
    async with conn.execute(
        f"SELECT {_MEMBER_COLUMNS} FROM members WHERE account_pk = ? "
        "AND state IN ('pending', 'active')",
        (account_pk,),
    ) as cursor:
        live = [_member(row) for row in await cursor.fetchall()]
    for member in live:
        # The account is banned already: no seal is kept for a later ban (departures.py).
        await conn.execute(
            "UPDATE members SET state = 'removed', account_pk = NULL "
            "WHERE group_id = ? AND member_id = ?",
            (member.group_id, member.member_id),
        )
        await unlink_departed(
            conn, member.group_id, member.member_id, member.account_pk, seal_key=None
        )
    return live


class AccountStore:
    """Server-wide account state: bans."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ban(
        self, account_pk: bytes, now: int, *, membership: tuple[bytes, bytes] | None = None
    ) -> list[MemberRow]:
        """Ban an account and end all its live memberships; returns those memberships.

        The invites those memberships were made with (and that of ``membership``, the
        (group_id, member_id) the ban was decided about, which may have ended already) are
        revoked and marked as used by a banned account: a person who deletes their data and
        opens the same link again with a fresh account key is refused, and a facilitator
        approving someone else who joined with it is told (docs/threat-model.md)."""

        async def job(conn: aiosqlite.Connection) -> list[MemberRow]:
            await _ensure_account(conn, account_pk, now)
            await conn.execute("UPDATE accounts SET banned = 1 WHERE account_pk = ?", (account_pk,))
            await conn.execute(
                "UPDATE invites SET revoked = 1, banned_use = 1 WHERE token_hash IN ("
                "SELECT invite_hash FROM members WHERE account_pk = ? "
                "AND state IN ('pending', 'active') AND invite_hash IS NOT NULL)",
                (account_pk,),
            )
            if membership is not None:
                await conn.execute(
                    "UPDATE invites SET revoked = 1, banned_use = 1 WHERE token_hash = ("
                    "SELECT invite_hash FROM members WHERE group_id = ? AND member_id = ?)",
                    membership,
                )
            return await _remove_live_memberships(conn, account_pk)

        return await self._db.write(job)


async def _check_newcomer(
    conn: aiosqlite.Connection,
    group_id: bytes,
    member: NewMember,
    live: list[MemberRow],
    max_members: int,
) -> None:
    """A member_id never used in the group, a pseudonym unlike the live members', and room."""
    async with conn.execute(
        "SELECT 1 FROM members WHERE group_id = ? AND member_id = ?",
        (group_id, member.member_id),
    ) as cursor:
        if await cursor.fetchone() is not None:
            raise HearthError(
                Code.MEMBER_ID_TAKEN,
                "this member_id has been used in this group before; "
                "join with freshly generated member keys",
            )
    if any(m.skeleton == member.skeleton for m in live):
        raise HearthError(
            Code.PSEUDONYM_TAKEN,
            "this pseudonym is taken, or looks too much like one in this group",
        )
    if len(live) >= max_members:
        raise HearthError(Code.GROUP_FULL, "this group is full")
