"""SQL for the audit log. The hash chain itself is defined in ``moderation.audit``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

import aiosqlite

from moderation.audit import AuditEntry, append, canonical_json
from server.storage.database import Database

_COLUMNS = "seq, at, actor, action, group_id, subject, detail, prev_hash, entry_hash"


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, action, group_id, subject, detail, prev_hash, entry_hash = tuple(row)
    return AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        group_id=group_id,
        subject=subject,
        detail=json.loads(detail),
        prev_hash=prev_hash,
        entry_hash=entry_hash,
    )


class AuditStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        at: int,
        actor: str,
        action: str,
        group_id: bytes | None,
        subject: str,
        detail: Mapping[str, Any],
    ) -> AuditEntry:
        """Append an entry; the single writer makes read-last-then-insert atomic."""

        async def job(conn: aiosqlite.Connection) -> AuditEntry:
            async with conn.execute(
                f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"
            ) as cursor:
                last = await cursor.fetchone()
            entry = append(
                None if last is None else _entry(last),
                at=at,
                actor=actor,
                action=action,
                group_id=group_id,
                subject=subject,
                detail=detail,
            )
            await conn.execute(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.seq,
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.group_id,
                    entry.subject,
                    canonical_json(entry.detail).decode("utf-8"),
                    entry.prev_hash,
                    entry.entry_hash,
                ),
            )
            return entry

        return await self._db.write(job)

    async def entries(
        self, *, group_ids: list[bytes] | None = None, before_seq: int | None = None, limit: int
    ) -> list[AuditEntry]:
        """Newest first, optionally only entries about the given groups."""
        where = ["seq < ?"]
        params: list[int | bytes] = [before_seq if before_seq is not None else 2**62]
        if group_ids is not None:
            where.append(f"group_id IN ({','.join('?' * len(group_ids))})")
            params.extend(group_ids)
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} "
            "ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [_entry(row) for row in rows]

    async def flagged(self, group_id: bytes, epoch: int) -> bool:
        """Whether a ``flag_commit`` entry names this epoch of the group already (§6.6)."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM audit_log WHERE group_id = ? AND action = 'flag_commit' "
            "AND json_extract(detail, '$.epoch') = ? LIMIT 1",
            (group_id, epoch),
        )
        return row is not None


def all_entries(conn: sqlite3.Connection) -> list[AuditEntry]:
    """Every entry in order, read with a plain connection (``hearth audit verify``)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq").fetchall()
    return [_entry(row) for row in rows]


async def all_entries_of(db: Database) -> list[AuditEntry]:
    """Every entry in order, through the server's store (``hearth audit verify`` on PostgreSQL)."""
    rows = await db.fetch_all(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
    return [_entry(row) for row in rows]
