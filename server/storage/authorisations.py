"""SQL for signed roster authorisations and invite keys (docs/protocol.md §6.4).

The server keeps them only to hand them to whichever member commits next; it cannot make one
(each is signed by a member key or an invite key it never sees), so it cannot add anyone.
"""

from __future__ import annotations

from typing import Literal

import aiosqlite

from server.storage.database import Database

AuthorisationKind = Literal["admission", "departure"]


class AuthorisationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, group_id: bytes, member_id: bytes, kind: AuthorisationKind, blob: bytes
    ) -> None:
        """Keep ``blob`` as ``member_id``'s admission or departure (replacing an older one)."""
        column = "admission" if kind == "admission" else "departure"

        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                f"INSERT INTO member_authorisations (group_id, member_id, {column}) "
                f"VALUES (?, ?, ?) ON CONFLICT (group_id, member_id) "
                f"DO UPDATE SET {column} = excluded.{column}",
                (group_id, member_id, blob),
            )

        await self._db.write(job)

    async def of_group(self, group_id: bytes, kind: AuthorisationKind) -> dict[bytes, bytes]:
        """member_id → stored admission (or departure) of every member that has one."""
        column = "admission" if kind == "admission" else "departure"

        rows = await self._db.fetch_all(
            f"SELECT member_id, {column} FROM member_authorisations "
            f"WHERE group_id = ? AND {column} IS NOT NULL",
            (group_id,),
        )
        return {bytes(row[0]): bytes(row[1]) for row in rows}

    async def set_invite_key(self, token_hash: bytes, invite_key: bytes) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO invite_keys (token_hash, invite_key) VALUES (?, ?)",
                (token_hash, invite_key),
            )

        await self._db.write(job)

    async def invite_key(self, token_hash: bytes) -> bytes | None:
        row = await self._db.fetch_one(
            "SELECT invite_key FROM invite_keys WHERE token_hash = ?", (token_hash,)
        )
        return None if row is None else bytes(row[0])
