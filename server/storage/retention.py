"""Retention: delete what has outlived its group's retention period."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from server.storage.database import Database
from server.storage.departures import drop_spent_seals

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class PurgeResult:
    messages: int
    expired_invites: int


async def purge_expired(db: Database, now_ms: int) -> PurgeResult:
    """Delete messages older than their group's ``retention_days`` and long-dead invites."""

    async def job(conn: aiosqlite.Connection) -> PurgeResult:
        # First remember each group's highest seq about to go, so that a group left with no
        # messages does not start again at 1 (messages.py takes the next seq above it).
        await conn.execute(
            "UPDATE groups SET seq_floor = MAX(seq_floor, COALESCE(("
            "SELECT MAX(seq) FROM messages m WHERE m.group_id = groups.group_id "
            "AND m.server_ts < ? - groups.retention_days * ?), 0))",
            (now_ms, DAY_MS),
        )
        cursor = await conn.execute(
            "DELETE FROM messages WHERE server_ts < ? - ("
            "SELECT retention_days FROM groups g WHERE g.group_id = messages.group_id) * ?",
            (now_ms, DAY_MS),
        )
        messages = cursor.rowcount
        await drop_spent_seals(conn)  # a departed member with no message left is forgotten
        cursor = await conn.execute(
            "DELETE FROM invites WHERE expires_at < ?", (now_ms - 30 * DAY_MS,)
        )
        return PurgeResult(messages=messages, expired_invites=cursor.rowcount)

    return await db.write(job)
