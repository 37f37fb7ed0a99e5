"""SQL for administrators: facilitator accounts that may invite and remove the facilitators of
any group (docs/protocol.md §6.11). Being one gives no key and no place in any group."""

from __future__ import annotations

import aiosqlite

from server.storage.database import Database
from server.storage.facilitators import normalise_username
from server.storage.groups import _GROUP_COLUMNS, _group
from server.storage.rows import GroupRow


class AdministratorStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set(self, username: str, administrator: bool) -> bool:
        """Make an account an administrator (or no longer one); False if there is no such
        account."""
        name = normalise_username(username)

        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "UPDATE facilitators SET administrator = ? WHERE username = ?",
                (int(administrator), name),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def is_administrator(self, facilitator_id: int) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 FROM facilitators WHERE id = ? AND administrator = 1 AND disabled = 0",
            (facilitator_id,),
        )
        return row is not None

    async def usernames(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT username FROM facilitators WHERE administrator = 1 ORDER BY username"
        )
        return [str(row[0]) for row in rows]

    async def groups(self) -> list[GroupRow]:
        """Every group but the companions (which follow their groups, §6.10)."""
        rows = await self._db.fetch_all(
            f"SELECT {_GROUP_COLUMNS} FROM groups WHERE group_id NOT IN "
            "(SELECT companion_id FROM companions) ORDER BY created_at, group_id"
        )
        return [_group(row) for row in rows]
