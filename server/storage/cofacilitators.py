"""SQL for the facilitators of each group: invitations, their joining, and who is one now.

A ``group_facilitators`` row names an account that may facilitate a group. It gives power only
once that account's member of the group is active (``groups.ADMITTED``): a facilitator's
signed admission with the facilitator role brought it in, which every member checks
(docs/protocol.md §6.8). Until then the row is an invitation: the account may ask to join as
a facilitator, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aiosqlite

from server.errors import Code, HearthError
from server.storage.database import Database
from server.storage.groups import (
    _GROUP_COLUMNS,
    _MEMBER_COLUMNS,
    NewMember,
    _check_newcomer,
    _ensure_account,
    _group,
    _insert_member,
    _live_members,
    _member,
)
from server.storage.rows import GroupRow, MemberRow

FacilitatorState = Literal["invited", "pending", "active"]


@dataclass(frozen=True, slots=True)
class GroupFacilitator:
    """One account that facilitates (or is invited to facilitate) a group."""

    facilitator_id: int
    username: str
    state: FacilitatorState
    member: MemberRow | None  # its live member of the group, once it asked to join


class CoFacilitatorStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_group(self, group_id: bytes) -> list[GroupFacilitator]:
        rows = await self._db.fetch_all(
            "SELECT f.facilitator_id, a.username FROM group_facilitators f "
            "JOIN facilitators a ON a.id = f.facilitator_id WHERE f.group_id = ? "
            "ORDER BY a.username",
            (group_id,),
        )
        live = await self._db.fetch_all(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE group_id = ? "
            "AND facilitator_id IS NOT NULL AND state IN ('pending', 'active')",
            (group_id,),
        )
        members = {m.facilitator_id: m for m in map(_member, live)}
        found = []
        for row in rows:
            member = members.get(int(row[0]))
            state: FacilitatorState = "invited" if member is None else member.state  # type: ignore[assignment]
            found.append(GroupFacilitator(int(row[0]), str(row[1]), state, member))
        return found

    async def invitations_of(self, facilitator_id: int) -> list[GroupRow]:
        """Groups this account is invited to facilitate and has not asked to join yet."""
        rows = await self._db.fetch_all(
            f"SELECT {', '.join('g.' + c.strip() for c in _GROUP_COLUMNS.split(','))} "
            "FROM groups g JOIN group_facilitators f ON f.group_id = g.group_id "
            "WHERE f.facilitator_id = ? AND NOT EXISTS (SELECT 1 FROM members m "
            "WHERE m.group_id = f.group_id AND m.facilitator_id = f.facilitator_id "
            "AND m.state IN ('pending', 'active')) ORDER BY g.created_at",
            (facilitator_id,),
        )
        return [_group(row) for row in rows]

    async def invite(self, group_id: bytes, facilitator_id: int) -> bool:
        """False if the account already facilitates or is invited to facilitate the group."""

        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "INSERT INTO group_facilitators (group_id, facilitator_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (group_id, facilitator_id),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def drop(self, group_id: bytes, facilitator_id: int) -> bool:
        """End an invitation or a facilitator's power in a group (its member is dealt with by
        the caller)."""

        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "DELETE FROM group_facilitators WHERE group_id = ? AND facilitator_id = ?",
                (group_id, facilitator_id),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def join(
        self,
        *,
        group_id: bytes,
        facilitator_id: int,
        member: NewMember,
        now: int,
        max_members: int,
    ) -> MemberRow:
        """An invited facilitator asks to join with its member keys: a pending member that a
        facilitator of the group admits with the facilitator role. Checked in one transaction,
        like ``GroupStore.join``."""

        async def job(conn: aiosqlite.Connection) -> MemberRow:
            async with conn.execute(
                "SELECT 1 FROM group_facilitators WHERE group_id = ? AND facilitator_id = ?",
                (group_id, facilitator_id),
            ) as cursor:
                if await cursor.fetchone() is None:
                    raise HearthError(
                        Code.FORBIDDEN, "you are not invited to facilitate this group"
                    )
            async with conn.execute(
                "SELECT banned FROM accounts WHERE account_pk = ?", (member.account_pk,)
            ) as cursor:
                account = await cursor.fetchone()
            if account is not None and account[0]:
                raise HearthError(Code.BANNED, "this account is banned from this server")
            live = await _live_members(conn, group_id)
            if any(m.facilitator_id == facilitator_id for m in live):
                raise HearthError(
                    Code.ALREADY_MEMBER, "you have already asked to join this group, or are in it"
                )
            if any(m.account_pk == member.account_pk for m in live):
                raise HearthError(
                    Code.ALREADY_MEMBER,
                    "this browser is already a member of this group; a facilitator joins with "
                    "keys of their own",
                )
            await _check_newcomer(conn, group_id, member, live, max_members)
            await _ensure_account(conn, member.account_pk, now)
            return await _insert_member(
                conn, group_id, member, "pending", now=now, facilitator_id=facilitator_id
            )

        return await self._db.write(job)
