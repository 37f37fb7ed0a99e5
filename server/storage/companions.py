"""SQL for companion groups: the facilitators' notes of a group and members' private requests
(docs/protocol.md §6.10).

A companion is an ordinary group (its epochs, members and ciphertexts live in the usual tables)
that a ``companions`` row ties to the group it belongs to. Its members are members of that
group with the very keys they hold there, so adding one copies its row: the server learns
nothing it did not know, and a departure from the group ends the companion membership of the
same ``member_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aiosqlite

from server.errors import Code, HearthError
from server.storage.database import Database
from server.storage.groups import (
    _GROUP_COLUMNS,
    _MEMBER_COLUMNS,
    GroupSettings,
    NewMember,
    _ensure_account,
    _group,
    _insert_member,
    _member,
)
from server.storage.rows import GroupRow, MemberRow

CompanionKind = Literal["notes", "ask"]


@dataclass(frozen=True, slots=True)
class Companion:
    companion_id: bytes
    group_id: bytes
    kind: CompanionKind
    asker_id: bytes | None  # the asking member of the group (kind "ask")
    claimed_by: str | None  # the username of the facilitator handling a request
    closed_at: int | None
    created_at: int


_COLUMNS = (
    "c.companion_id, c.group_id, c.kind, c.asker_id, a.username, c.closed_at, c.created_at "
    "FROM companions c LEFT JOIN facilitators a ON a.id = c.claimed_by"
)


def _companion(row: Any) -> Companion:
    asker, claimed, closed = row[3], row[4], row[5]
    return Companion(
        bytes(row[0]),
        bytes(row[1]),
        row[2],
        None if asker is None else bytes(asker),
        None if claimed is None else str(claimed),
        None if closed is None else int(closed),
        int(row[6]),
    )


def _as_newcomer(member: MemberRow) -> NewMember:
    return NewMember(
        member.member_id,
        member.account_pk,
        member.sig_pk,
        member.kem_pk,
        member.pseudonym,
        member.skeleton,
        None,  # a companion stays on suite 1: a signed ML-KEM key names its own group (§6.9)
    )


class CompanionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, companion_id: bytes) -> Companion | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} WHERE c.companion_id = ?", (companion_id,)
        )
        return None if row is None else _companion(row)

    async def of_group(self, group_id: bytes) -> list[Companion]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} WHERE c.group_id = ? ORDER BY c.created_at, c.companion_id",
            (group_id,),
        )
        return [_companion(row) for row in rows]

    async def of_groups(self, group_ids: list[bytes]) -> dict[bytes, Companion]:
        """The companion rows of those of ``group_ids`` that are companions."""
        if not group_ids:
            return {}
        marks = ",".join("?" * len(group_ids))
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} WHERE c.companion_id IN ({marks})", tuple(group_ids)
        )
        return {c.companion_id: c for c in (_companion(row) for row in rows)}

    async def create(
        self,
        *,
        companion: Companion,
        settings: GroupSettings,
        creator: MemberRow,
        commit_blob: bytes,
        commit_hash: bytes,
    ) -> GroupRow:
        """The companion group, its creator (its member of the group, with the same keys) as
        the only member of epoch 1, and the row tying it to its group; one notes companion per
        group and one open request per member (``already_exists``)."""
        now = companion.created_at

        async def job(conn: aiosqlite.Connection) -> GroupRow:
            async with conn.execute(
                "SELECT 1 FROM groups WHERE group_id = ?", (companion.companion_id,)
            ) as cursor:
                if await cursor.fetchone() is not None:
                    raise HearthError(Code.BAD_REQUEST, "a group with this id exists already")
            query = (
                "SELECT 1 FROM companions WHERE group_id = ? AND kind = 'notes'"
                if companion.kind == "notes"
                else "SELECT 1 FROM companions WHERE group_id = ? AND kind = 'ask' "
                "AND asker_id = ? AND closed_at IS NULL"
            )
            params = (
                (companion.group_id,)
                if companion.kind == "notes"
                else (companion.group_id, companion.asker_id)
            )
            async with conn.execute(query, params) as cursor:
                if await cursor.fetchone() is not None:
                    raise HearthError(
                        Code.ALREADY_EXISTS,
                        "this group has its facilitators' notes already"
                        if companion.kind == "notes"
                        else "you have an open request to the facilitators of this group already",
                    )
            await _ensure_account(conn, creator.account_pk, now)
            await conn.execute(
                f"INSERT INTO groups ({_GROUP_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 0, 0, ?, '')",
                (
                    companion.companion_id,
                    settings.name,
                    settings.rules,
                    settings.retention_days,
                    settings.join_policy,
                    settings.posting_policy,
                    now,
                    now,
                    now,
                ),
            )
            await conn.execute(
                "INSERT INTO companions (companion_id, group_id, kind, asker_id, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    companion.companion_id,
                    companion.group_id,
                    companion.kind,
                    companion.asker_id,
                    now,
                ),
            )
            if creator.facilitator_id is not None:
                await conn.execute(
                    "INSERT INTO group_facilitators (group_id, facilitator_id) VALUES (?, ?)",
                    (companion.companion_id, creator.facilitator_id),
                )
            await _insert_member(
                conn,
                companion.companion_id,
                _as_newcomer(creator),
                "active",
                facilitator_id=creator.facilitator_id,
                first_epoch=1,
                now=now,
            )
            await conn.execute(
                "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
                "created_at) VALUES (?, 1, ?, ?, ?, ?)",
                (companion.companion_id, commit_blob, commit_hash, creator.member_id, now),
            )
            async with conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups WHERE group_id = ?",
                (companion.companion_id,),
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None
            return _group(row)

        return await self._db.write(job)

    async def add_facilitator(self, companion_id: bytes, facilitator: MemberRow, now: int) -> bool:
        """Copy a facilitator's member of the group into its companion (active, to be keyed by
        the next commit, which carries the admission). False if that member_id is or was in it
        (a member_id is never admitted twice)."""
        assert facilitator.facilitator_id is not None

        async def job(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT 1 FROM members WHERE group_id = ? AND member_id = ?",
                (companion_id, facilitator.member_id),
            ) as cursor:
                if await cursor.fetchone() is not None:
                    return False
            await _insert_member(
                conn,
                companion_id,
                _as_newcomer(facilitator),
                "active",
                facilitator_id=facilitator.facilitator_id,
                now=now,
            )
            await conn.execute(
                "INSERT INTO group_facilitators (group_id, facilitator_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (companion_id, facilitator.facilitator_id),
            )
            return True

        return await self._db.write(job)

    async def live_member(self, companion_id: bytes, member_id: bytes) -> MemberRow | None:
        row = await self._db.fetch_one(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? AND member_id = ? "
            "AND state IN ('pending', 'active')",
            (companion_id, member_id),
        )
        return None if row is None else _member(row)

    async def claim(self, companion_id: bytes, facilitator_id: int | None) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE companions SET claimed_by = ? WHERE companion_id = ?",
                (facilitator_id, companion_id),
            )

        await self._db.write(job)

    async def close(self, companion_id: bytes, now: int) -> bool:
        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "UPDATE companions SET closed_at = ? WHERE companion_id = ? AND closed_at IS NULL",
                (now, companion_id),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def follow_retention(self, group_id: bytes, retention_days: int) -> None:
        """A group's companions keep what is written for as long as the group does."""

        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE groups SET retention_days = ? WHERE group_id IN "
                "(SELECT companion_id FROM companions WHERE group_id = ?)",
                (retention_days, group_id),
            )

        await self._db.write(job)
