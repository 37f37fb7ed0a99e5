"""Retention: delete what has outlived its group's retention period."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from server.storage.database import Database
from server.storage.departures import drop_spent_seals

DAY_MS = 86_400_000
PURGE_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class PurgeResult:
    messages: int
    expired_invites: int


async def purge_expired(db: Database, now_ms: int, *, chunk: int = PURGE_CHUNK) -> PurgeResult:
    """Delete messages older than their group's ``retention_days`` and long-dead invites.

    Messages go in transactions of at most ``chunk`` each: one transaction for a large purge
    (the first after a retention is shortened) would hold the write lock, so messages would
    wait behind it, and would grow the WAL by everything it deletes (docs/storage.md)."""

    async def prepare(conn: aiosqlite.Connection) -> int:
        # First remember each group's highest seq about to go, so that a group left with no
        # messages does not start again at 1 (messages.py takes the next seq above it).
        await conn.execute(
            "UPDATE groups SET seq_floor = MAX(seq_floor, COALESCE(("
            "SELECT MAX(seq) FROM messages m WHERE m.group_id = groups.group_id "
            "AND m.server_ts < ? - groups.retention_days * ?), 0))",
            (now_ms, DAY_MS),
        )
        cursor = await conn.execute(
            "DELETE FROM invites WHERE expires_at < ?", (now_ms - 30 * DAY_MS,)
        )
        return cursor.rowcount

    async def delete_some(conn: aiosqlite.Connection) -> int:
        cursor = await conn.execute(
            "DELETE FROM messages WHERE (group_id, seq) IN ("
            "SELECT m.group_id, m.seq FROM messages m JOIN groups g ON g.group_id = m.group_id "
            "WHERE m.server_ts < ? - g.retention_days * ? LIMIT ?)",
            (now_ms, DAY_MS, chunk),
        )
        return cursor.rowcount

    expired_invites = await db.write(prepare)
    messages = 0
    while True:
        deleted = await db.write(delete_some)
        messages += deleted
        if deleted < chunk:
            break
    await db.write(drop_spent_seals)  # a departed member with no message left is forgotten
    return PurgeResult(messages=messages, expired_invites=expired_invites)
